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

# S3 and DynamoDB are reached through gateway endpoints (no cost, no NAT).
# No endpoint policy: the Snowflake connector also downloads query results from
# Snowflake-owned buckets through the S3 endpoint.
resource "aws_vpc_endpoint" "gateway" {
  for_each = toset(["s3", "dynamodb"])

  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${data.aws_region.current.region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.route_table_ids
  tags              = merge(var.tags, { Name = "${var.name_prefix}-${each.key}" })
}

resource "aws_vpc_endpoint" "interface" {
  for_each = var.interface_endpoint_services

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${data.aws_region.current.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = var.security_group_ids
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "${var.name_prefix}-${each.key}" })
}
