data "aws_region" "current" {}

locals {
  create_snowflake_endpoint = var.snowflake_vpc_endpoint_id == null
  snowflake_hostnames = toset(concat(
    [var.snowflake_privatelink_account_url, var.snowflake_privatelink_ocsp_url],
    var.snowflake_additional_hostnames,
  ))
  snowflake_endpoint_id = local.create_snowflake_endpoint ? aws_vpc_endpoint.this[0].id : data.aws_vpc_endpoint.snowflake[0].id
  # The first DNS entry is the regional name, valid in every availability zone.
  snowflake_endpoint_dns_name = (local.create_snowflake_endpoint
    ? aws_vpc_endpoint.this[0].dns_entry[0].dns_name
    : data.aws_vpc_endpoint.snowflake[0].dns_entry[0].dns_name
  )
  private_hosted_zone_id = var.private_hosted_zone_id == null ? aws_route53_zone.snowflake[0].zone_id : var.private_hosted_zone_id
}

# The Snowflake PrivateLink endpoint, unless an existing one is reused.
resource "aws_vpc_endpoint" "this" {
  count = local.create_snowflake_endpoint ? 1 : 0

  vpc_id              = var.vpc_id
  service_name        = var.snowflake_privatelink_service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = var.security_group_ids
  private_dns_enabled = false # Snowflake names resolve through the private hosted zone below.
  tags                = merge(var.tags, { Name = "${var.name_prefix}-snowflake" })
}

data "aws_vpc_endpoint" "snowflake" {
  count = local.create_snowflake_endpoint ? 0 : 1

  id = var.snowflake_vpc_endpoint_id
}

resource "aws_route53_zone" "snowflake" {
  count = var.private_hosted_zone_id == null ? 1 : 0

  name    = "privatelink.snowflakecomputing.com"
  comment = "${var.name_prefix}: Snowflake PrivateLink names"

  vpc {
    vpc_id = var.vpc_id
  }

  tags = var.tags
}

resource "aws_route53_record" "snowflake" {
  for_each = local.snowflake_hostnames

  zone_id = local.private_hosted_zone_id
  name    = each.value
  type    = "CNAME"
  ttl     = 300
  records = [local.snowflake_endpoint_dns_name]
}

# Endpoint policies: each endpoint serves the project's resources only, to principals
# of the organisation. The gateway endpoints serve every workload on those route
# tables, so anything else in the VPC that needs S3 or DynamoDB needs its own route.
locals {
  organisation_principals = { StringEquals = { "aws:PrincipalOrgID" = var.organization_id } }

  gateway_statements = {
    s3 = concat(
      [{
        Sid       = "ProjectStagingBucket"
        Effect    = "Allow"
        Principal = "*"
        Action = [
          "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
          "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation",
        ]
        Resource  = [var.staging_bucket_arn, "${var.staging_bucket_arn}/*"]
        Condition = local.organisation_principals
      }],
      # The Snowflake connector downloads large query results from Snowflake's stage
      # bucket with URLs Snowflake signed: the principal is Snowflake's, not ours.
      [for buckets in [var.snowflake_internal_stage_bucket_arns] : {
        Sid       = "SnowflakeQueryResults"
        Effect    = "Allow"
        Principal = "*"
        Action    = ["s3:GetObject"]
        Resource  = [for arn in buckets : "${arn}/*"]
      } if length(buckets) > 0],
    )
    dynamodb = [{
      Sid       = "ProjectStateTable"
      Effect    = "Allow"
      Principal = "*"
      Action = [
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable",
      ]
      Resource  = [var.state_table_arn, "${var.state_table_arn}/index/*"]
      Condition = local.organisation_principals
    }]
  }

  interface_statements = {
    # Vault's aws auth signs GetCallerIdentity; the SDK may resolve identity too.
    sts = { Action = ["sts:GetCallerIdentity"], Resource = "*", Condition = local.organisation_principals }
    logs = {
      Action    = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource  = [for arn in var.log_group_arns : "${arn}:*"]
      Condition = local.organisation_principals
    }
    lambda = {
      Action    = ["lambda:InvokeFunction"]
      Resource  = concat(var.function_arns, [for arn in var.function_arns : "${arn}:*"])
      Condition = local.organisation_principals
    }
    # PutMetricData has no resource; the namespace narrows it.
    monitoring = {
      Action    = ["cloudwatch:PutMetricData"]
      Resource  = "*"
      Condition = { StringEquals = { "aws:PrincipalOrgID" = var.organization_id, "cloudwatch:namespace" = var.metrics_namespace } }
    }
    xray = {
      Action    = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      Resource  = "*"
      Condition = local.organisation_principals
    }
    sqs = {
      Action    = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
      Resource  = var.queue_arns
      Condition = local.organisation_principals
    }
    kms = {
      Action    = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
      Resource  = [var.kms_key_arn]
      Condition = local.organisation_principals
    }
  }
}

# S3 and DynamoDB are reached through gateway endpoints (no cost, no NAT).
resource "aws_vpc_endpoint" "gateway" {
  for_each = toset(["s3", "dynamodb"])

  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${data.aws_region.current.region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.route_table_ids
  policy            = jsonencode({ Version = "2012-10-17", Statement = local.gateway_statements[each.key] })
  tags              = merge(var.tags, { Name = "${var.name_prefix}-${each.key}" })
}

# The Snowflake endpoint above has no policy: Snowflake does not authorise with IAM,
# so an endpoint policy would not be evaluated; its security group limits who reaches it.
resource "aws_vpc_endpoint" "interface" {
  for_each = var.interface_endpoint_services

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${data.aws_region.current.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = var.security_group_ids
  private_dns_enabled = true
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [merge({ Sid = "Project${title(each.key)}", Effect = "Allow", Principal = "*" }, local.interface_statements[each.key])]
  })
  tags = merge(var.tags, { Name = "${var.name_prefix}-${each.key}" })
}
