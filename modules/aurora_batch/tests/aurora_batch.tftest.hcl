mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { region = "us-east-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_vpc_endpoint" {
    defaults = {
      dns_entry = [{
        dns_name       = "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com"
        hosted_zone_id = "Z7HUB22UULQXV"
      }]
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::aurora-batch-test-staging", id = "aurora-batch-test-staging" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:us-east-1:123456789012:table/aurora-batch-test-state" }
  }
  mock_resource "aws_vpc_endpoint" {
    defaults = { id = "vpce-0fedcba9876543210" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_lambda_code_signing_config" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0" }
  }
}

variables {
  environment = "prod"
  settings = {
    aws_region                        = "us-east-1"
    vpc_id                            = "vpc-0123456789abcdef0"
    subnet_ids                        = ["subnet-0123456789abcdef0"]
    route_table_ids                   = ["rtb-0123456789abcdef0"]
    organization_id                   = "o-abcdef1234"
    administrator_arns                = ["arn:aws:iam::123456789012:role/terraform"]
    aurora_endpoint                   = "aurora-test.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com"
    aurora_security_group_id          = "sg-0123456789abcdef0"
    vault_addr                        = "https://vault.example.internal"
    vault_role                        = "aurora-batch-prod-replication"
    vault_cidr_blocks                 = ["10.20.0.0/24"]
    snowflake_vpc_endpoint_id         = "vpce-0123456789abcdef0"
    snowflake_privatelink_account_url = "xy12345.us-east-1.privatelink.snowflakecomputing.com"
    snowflake_privatelink_ocsp_url    = "ocsp.xy12345.us-east-1.privatelink.snowflakecomputing.com"
    artifact_bucket                   = "example-artifacts"
    staging_bucket_name               = "aurora-batch-test-staging"
    tables = {
      "public.orders" = { schedule_expression = "rate(1 hour)", mode = "incremental", incremental_column = "updated_at" }
    }
  }
}

run "prod_profile" {
  command = plan

  assert {
    condition     = module.code_signing.untrusted_artifact_on_deployment == "Enforce"
    error_message = "Prod must refuse unsigned packages."
  }

  assert {
    condition     = module.staging_bucket.access_log_bucket_name != null
    error_message = "Prod must log access to the staging bucket."
  }

  assert {
    condition     = module.lambda_function["replication"].timeout == 900
    error_message = "The replication function must take the prod timeout."
  }
}

run "dev_profile_warns" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = module.code_signing.untrusted_artifact_on_deployment == "Warn" && module.staging_bucket.access_log_bucket_name == null
    error_message = "Dev warns on unsigned packages and keeps access logging off."
  }
}

run "unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}
