mock_provider "aws" {}

variables {
  name_prefix              = "aurora-batch-test"
  vpc_id                   = "vpc-0123456789abcdef0"
  aurora_security_group_id = "sg-0123456789abcdef0"
  aurora_endpoint          = "aurora-test.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com"
  vault_cidr_blocks        = ["10.20.0.0/24"]
  gateway_prefix_list_ids  = { s3 = "pl-63a5400a", dynamodb = "pl-02cd2c6b" }
}

run "egress_is_an_allow_list" {
  command = plan

  assert {
    condition     = toset(keys(aws_security_group.this)) == toset(["replication", "s3_cleanup", "watermark_admin"])
    error_message = "Each function must have its own security group."
  }

  assert {
    condition     = length(aws_vpc_security_group_egress_rule.https_anywhere) == 0
    error_message = "There must be no 0.0.0.0/0 egress unless it is asked for."
  }

  assert {
    condition = (
      aws_vpc_security_group_egress_rule.aurora.from_port == 5432 &&
      aws_vpc_security_group_egress_rule.aurora.to_port == 5432 &&
      aws_vpc_security_group_egress_rule.aurora.referenced_security_group_id == "sg-0123456789abcdef0"
    )
    error_message = "The replication function must reach Aurora's security group on 5432."
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.aurora_from_lambda.security_group_id == "sg-0123456789abcdef0" &&
      aws_vpc_security_group_ingress_rule.aurora_from_lambda.from_port == 5432
    )
    error_message = "Aurora's security group must get an ingress rule on 5432."
  }

  assert {
    condition = (
      toset(keys(aws_vpc_security_group_egress_rule.vault)) == toset(["replication/10.20.0.0/24"]) &&
      aws_vpc_security_group_egress_rule.vault["replication/10.20.0.0/24"].from_port == 443 &&
      aws_vpc_security_group_egress_rule.vault["replication/10.20.0.0/24"].cidr_ipv4 == "10.20.0.0/24"
    )
    error_message = "Only the replication function may reach Vault, on 443."
  }

  assert {
    condition = (
      toset(keys(aws_vpc_security_group_egress_rule.vpc_endpoints)) == toset(["replication", "s3_cleanup", "watermark_admin"]) &&
      alltrue([for rule in aws_vpc_security_group_egress_rule.vpc_endpoints : rule.from_port == 443]) &&
      alltrue([for rule in aws_vpc_security_group_ingress_rule.vpc_endpoints_from_lambda : rule.from_port == 443])
    )
    error_message = "Every function must reach the interface endpoints on 443."
  }

  assert {
    condition = toset(keys(aws_vpc_security_group_egress_rule.gateway_endpoints)) == toset([
      "replication/s3", "replication/dynamodb", "s3_cleanup/s3", "s3_cleanup/dynamodb", "watermark_admin/dynamodb",
    ])
    error_message = "Replication and cleanup reach S3 and DynamoDB; the admin function DynamoDB only."
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.gateway_endpoints["replication/s3"].prefix_list_id == "pl-63a5400a"
    error_message = "The S3 rule must use the gateway endpoint's prefix list."
  }

  assert {
    condition     = length(aws_vpc_security_group_egress_rule.snowflake_endpoint) == 0
    error_message = "No rule for an existing Snowflake endpoint unless its security group is given."
  }
}

run "https_anywhere_only_when_asked" {
  command = plan

  variables {
    allow_https_egress_to_anywhere = true
  }

  assert {
    condition = (
      length(aws_vpc_security_group_egress_rule.https_anywhere) == 3 &&
      alltrue([for rule in aws_vpc_security_group_egress_rule.https_anywhere : rule.cidr_ipv4 == "0.0.0.0/0" && rule.from_port == 443])
    )
    error_message = "allow_https_egress_to_anywhere must open 443 to 0.0.0.0/0 and nothing more."
  }
}

run "existing_snowflake_endpoint" {
  command = plan

  variables {
    snowflake_endpoint_security_group_id = "sg-0fedcba9876543210"
  }

  assert {
    condition = (
      toset(keys(aws_vpc_security_group_egress_rule.snowflake_endpoint)) == toset(["replication"]) &&
      aws_vpc_security_group_egress_rule.snowflake_endpoint["replication"].referenced_security_group_id == "sg-0fedcba9876543210" &&
      aws_vpc_security_group_ingress_rule.snowflake_endpoint_from_lambda["replication"].security_group_id == "sg-0fedcba9876543210"
    )
    error_message = "An existing Snowflake endpoint's security group must be opened both ways on 443, for replication only."
  }
}

run "vault_cidr_cannot_be_anywhere" {
  command = plan

  variables {
    vault_cidr_blocks = ["0.0.0.0/0"]
  }

  expect_failures = [var.vault_cidr_blocks]
}
