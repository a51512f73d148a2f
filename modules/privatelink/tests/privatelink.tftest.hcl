mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { region = "us-east-1" }
  }
  mock_data "aws_vpc_endpoint" {
    defaults = {
      dns_entry = [{
        dns_name       = "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com"
        hosted_zone_id = "Z7HUB22UULQXV"
      }]
    }
  }
}

variables {
  name_prefix                       = "aurora-batch-test"
  vpc_id                            = "vpc-0123456789abcdef0"
  subnet_ids                        = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  route_table_ids                   = ["rtb-0123456789abcdef0"]
  security_group_ids                = ["sg-0123456789abcdef0"]
  snowflake_privatelink_account_url = "xy12345.us-east-1.privatelink.snowflakecomputing.com"
  snowflake_privatelink_ocsp_url    = "ocsp.xy12345.us-east-1.privatelink.snowflakecomputing.com"
  organization_id                   = "o-abcdef1234"
  staging_bucket_arn                = "arn:aws:s3:::aurora-batch-test-staging"
  state_table_arn                   = "arn:aws:dynamodb:us-east-1:123456789012:table/aurora-batch-test-state"
  function_arns                     = ["arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-replication"]
  log_group_arns                    = ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/aurora-batch-test-replication"]
  kms_key_arn                       = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
}

run "creates_the_snowflake_endpoint_and_names" {
  command = plan

  variables {
    snowflake_privatelink_service_name = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
  }

  assert {
    condition     = length(aws_vpc_endpoint.this) == 1 && aws_vpc_endpoint.this[0].vpc_endpoint_type == "Interface"
    error_message = "An interface endpoint to Snowflake must be created from the service name."
  }

  assert {
    condition     = aws_route53_zone.snowflake[0].name == "privatelink.snowflakecomputing.com"
    error_message = "The private hosted zone must serve privatelink.snowflakecomputing.com."
  }

  assert {
    condition = toset(keys(aws_route53_record.snowflake)) == toset([
      "xy12345.us-east-1.privatelink.snowflakecomputing.com",
      "ocsp.xy12345.us-east-1.privatelink.snowflakecomputing.com",
    ])
    error_message = "The account URL and its OCSP host must both resolve to the endpoint."
  }

  assert {
    condition = (
      aws_vpc_endpoint.gateway["s3"].service_name == "com.amazonaws.us-east-1.s3" &&
      aws_vpc_endpoint.gateway["dynamodb"].service_name == "com.amazonaws.us-east-1.dynamodb" &&
      alltrue([for endpoint in aws_vpc_endpoint.gateway : endpoint.vpc_endpoint_type == "Gateway"])
    )
    error_message = "S3 and DynamoDB must be reached through gateway endpoints."
  }

  assert {
    condition = (
      toset(keys(aws_vpc_endpoint.interface)) == toset(["sts", "logs", "lambda", "monitoring"]) &&
      alltrue([for endpoint in aws_vpc_endpoint.interface : endpoint.private_dns_enabled])
    )
    error_message = "STS, Logs, Lambda and Monitoring must have interface endpoints with private DNS."
  }
}

run "every_aws_endpoint_has_a_policy" {
  command = plan

  variables {
    snowflake_vpc_endpoint_id = "vpce-0123456789abcdef0"
  }

  assert {
    condition = alltrue([
      for endpoint in merge(aws_vpc_endpoint.gateway, aws_vpc_endpoint.interface) :
      alltrue([for statement in jsondecode(endpoint.policy).Statement : statement.Effect == "Allow" && statement.Action != "*"])
    ])
    error_message = "Every gateway and interface endpoint must carry a policy of named actions."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_vpc_endpoint.gateway["s3"].policy).Statement : statement.Resource
      if statement.Sid == "ProjectStagingBucket"
    ]) == ["arn:aws:s3:::aurora-batch-test-staging", "arn:aws:s3:::aurora-batch-test-staging/*"]
    error_message = "The S3 endpoint must serve the staging bucket only."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(aws_vpc_endpoint.interface["lambda"].policy).Statement :
      statement.Condition.StringEquals["aws:PrincipalOrgID"] == "o-abcdef1234"
    ])
    error_message = "The interface endpoints must admit principals of the organisation only."
  }
}

run "organisation_id_is_validated" {
  command = plan

  variables {
    snowflake_vpc_endpoint_id = "vpce-0123456789abcdef0"
    organization_id           = "123456789012"
  }

  expect_failures = [var.organization_id]
}

run "reuses_an_existing_endpoint" {
  command = plan

  variables {
    snowflake_vpc_endpoint_id = "vpce-0123456789abcdef0"
  }

  assert {
    condition     = length(aws_vpc_endpoint.this) == 0
    error_message = "No endpoint may be created when an existing one is given."
  }

  assert {
    condition = (
      aws_route53_record.snowflake["xy12345.us-east-1.privatelink.snowflakecomputing.com"].type == "CNAME" &&
      contains(tolist(aws_route53_record.snowflake["xy12345.us-east-1.privatelink.snowflakecomputing.com"].records), "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com")
    )
    error_message = "The records must point at the existing endpoint's DNS name."
  }
}

run "needs_exactly_one_endpoint_source" {
  command = plan

  variables {
    snowflake_vpc_endpoint_id          = "vpce-0123456789abcdef0"
    snowflake_privatelink_service_name = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
  }

  expect_failures = [var.snowflake_vpc_endpoint_id]
}
