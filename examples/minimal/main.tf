provider "aws" {
  region = "us-east-1"
}

# The smallest dev stack: the required settings only; everything else takes the dev
# profile and the composition's defaults.
module "aurora_batch" {
  source = "../../modules/aurora_batch"

  environment = "dev"
  settings = {
    aws_region                         = "us-east-1"
    vpc_id                             = "vpc-0123456789abcdef0"
    subnet_ids                         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    route_table_ids                    = ["rtb-0123456789abcdef0"]
    organization_id                    = "o-abcdef1234"
    administrator_arns                 = ["arn:aws:iam::123456789012:role/terraform"]
    aurora_endpoint                    = "aurora-example.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com"
    aurora_security_group_id           = "sg-0123456789abcdef0"
    vault_addr                         = "https://vault.example.internal"
    vault_role                         = "aurora-batch-dev-replication"
    vault_cidr_blocks                  = ["10.20.0.0/24"]
    snowflake_privatelink_service_name = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
    snowflake_privatelink_account_url  = "xy12345.us-east-1.privatelink.snowflakecomputing.com"
    snowflake_privatelink_ocsp_url     = "ocsp.xy12345.us-east-1.privatelink.snowflakecomputing.com"
    artifact_bucket                    = "example-artifacts"
    staging_bucket_name                = "aurora-batch-example-staging-123456789012"
    tables = {
      "public.orders" = { schedule_expression = "rate(1 hour)" }
    }
  }
}
