# Snowflake objects (storage integration, stage, file format) are not managed here:
# Terraform configures every provider of a configuration on each plan, and the
# Snowflake provider connects when configured, so this AWS workspace would need
# Snowflake admin credentials. Compose modules/snowflake_stage in the Snowflake
# workspace instead (see its README) and pass its two outputs back in settings.yaml.
provider "aws" {
  region = yamldecode(file("${path.module}/settings.yaml")).aws_region

  default_tags {
    tags = merge(try(yamldecode(file("${path.module}/settings.yaml")).tags, {}), { Project = "aurora-batch", Environment = "staging", ManagedBy = "terraform" })
  }
}
