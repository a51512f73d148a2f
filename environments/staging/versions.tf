terraform {
  required_version = ">= 1.9.0"

  # One HCP Terraform (Terraform Cloud) workspace per environment. Runs
  # authenticate to AWS with the workspace's dynamic provider credentials.
  cloud {
    organization = "aurora-batch"

    workspaces {
      name = "aurora-batch-staging"
    }
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}
