# Snowflake objects (storage integration, stage, file format) are not managed here:
# Terraform configures every provider of a configuration on each plan, and the
# Snowflake provider connects when configured, so this AWS workspace would need
# Snowflake admin credentials. Compose modules/snowflake_stage in the Snowflake
# workspace instead (see its README) and pass its two outputs back as variables.
provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}
