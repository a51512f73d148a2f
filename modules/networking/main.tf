locals {
  aurora_label = var.aurora_endpoint == null ? "Aurora PostgreSQL" : "Aurora PostgreSQL ${var.aurora_endpoint}"

  # What each function reaches, and nothing more. Every function reaches the interface
  # endpoints (STS, Logs, Lambda, Monitoring: the AWS SDK's own calls).
  function_egress = {
    replication     = { aurora = true, vault = true, snowflake = true, gateways = ["s3", "dynamodb"] }
    s3_cleanup      = { aurora = false, vault = false, snowflake = false, gateways = ["s3", "dynamodb"] }
    watermark_admin = { aurora = false, vault = false, snowflake = false, gateways = ["dynamodb"] }
  }
  gateway_rules = merge([
    for function, egress in local.function_egress : {
      for service in egress.gateways : "${function}/${service}" => { function = function, service = service }
      if contains(keys(var.gateway_prefix_list_ids), service)
    }
  ]...)
  vault_rules = merge([
    for function, egress in local.function_egress : {
      for cidr in var.vault_cidr_blocks : "${function}/${cidr}" => { function = function, cidr = cidr }
    } if egress.vault
  ]...)
  snowflake_functions = var.snowflake_endpoint_security_group_id == null ? [] : [
    for function, egress in local.function_egress : function if egress.snowflake
  ]
}

# The single shared group of earlier versions becomes the replication function's group.
moved {
  from = aws_security_group.this
  to   = aws_security_group.this["replication"]
}

# One security group per function, each with its own egress allow-list.
resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:Attached through the lambda_function module's vpc_config, a module call this scan does not follow to the group.
  for_each = local.function_egress

  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description = "aurora-batch ${each.key} function: egress to what it uses only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-${replace(each.key, "_", "-")}" })
}

resource "aws_security_group" "vpc_endpoints" {
  #checkov:skip=CKV2_AWS_5:Attached to the interface endpoints by the privatelink module, a module call this scan does not follow to the group.
  name        = "${var.name_prefix}-vpc-endpoints"
  description = "Interface VPC endpoints used by aurora-batch: HTTPS from the function security groups"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-vpc-endpoints" })
}

resource "aws_vpc_security_group_egress_rule" "aurora" {
  security_group_id            = aws_security_group.this["replication"].id
  description                  = "To ${local.aurora_label}"
  ip_protocol                  = "tcp"
  from_port                    = var.aurora_port
  to_port                      = var.aurora_port
  referenced_security_group_id = var.aurora_security_group_id
  tags                         = var.tags
}

# Aurora accepts the replication function only.
resource "aws_vpc_security_group_ingress_rule" "aurora_from_lambda" {
  security_group_id            = var.aurora_security_group_id
  description                  = "From the ${var.name_prefix} replication function"
  ip_protocol                  = "tcp"
  from_port                    = var.aurora_port
  to_port                      = var.aurora_port
  referenced_security_group_id = aws_security_group.this["replication"].id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "vpc_endpoints" {
  for_each = local.function_egress

  security_group_id            = aws_security_group.this[each.key].id
  description                  = "To the interface VPC endpoints (STS, Logs, Lambda, Monitoring; a created Snowflake endpoint)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.vpc_endpoints.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "vpc_endpoints_from_lambda" {
  for_each = local.function_egress

  security_group_id            = aws_security_group.vpc_endpoints.id
  description                  = "HTTPS from the ${var.name_prefix} ${each.key} function"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.this[each.key].id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "gateway_endpoints" {
  for_each = local.gateway_rules

  security_group_id = aws_security_group.this[each.value.function].id
  description       = "To the ${each.value.service} gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = var.gateway_prefix_list_ids[each.value.service]
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "vault" {
  for_each = local.vault_rules

  security_group_id = aws_security_group.this[each.value.function].id
  description       = "To Vault"
  ip_protocol       = "tcp"
  from_port         = var.vault_port
  to_port           = var.vault_port
  cidr_ipv4         = each.value.cidr
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "snowflake_endpoint" {
  for_each = toset(local.snowflake_functions)

  security_group_id            = aws_security_group.this[each.key].id
  description                  = "To the existing Snowflake PrivateLink endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.snowflake_endpoint_security_group_id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "snowflake_endpoint_from_lambda" {
  for_each = toset(local.snowflake_functions)

  security_group_id            = var.snowflake_endpoint_security_group_id
  description                  = "HTTPS from the ${var.name_prefix} ${each.key} function"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.this[each.key].id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https_anywhere" {
  for_each = var.allow_https_egress_to_anywhere ? local.function_egress : {}

  security_group_id = aws_security_group.this[each.key].id
  description       = "HTTPS to anywhere, enabled explicitly"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}
