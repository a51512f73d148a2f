locals {
  aurora_label = var.aurora_endpoint == null ? "Aurora PostgreSQL" : "Aurora PostgreSQL ${var.aurora_endpoint}"
}

# The security group every Lambda function of the stack runs in. Egress is an
# allow-list: Aurora, Vault, the VPC endpoints; nothing else unless asked for.
resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:Attached to the functions by the lambda_function module, which checkov scans separately.
  name        = "${var.name_prefix}-lambda"
  description = "aurora-batch Lambda functions: egress to Aurora, Vault and VPC endpoints only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-lambda" })
}

resource "aws_security_group" "vpc_endpoints" {
  #checkov:skip=CKV2_AWS_5:Attached to the interface endpoints by the privatelink module, which checkov scans separately.
  name        = "${var.name_prefix}-vpc-endpoints"
  description = "Interface VPC endpoints used by aurora-batch: HTTPS from the Lambda security group"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-vpc-endpoints" })
}

resource "aws_vpc_security_group_egress_rule" "aurora" {
  security_group_id            = aws_security_group.this.id
  description                  = "To ${local.aurora_label}"
  ip_protocol                  = "tcp"
  from_port                    = var.aurora_port
  to_port                      = var.aurora_port
  referenced_security_group_id = var.aurora_security_group_id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "aurora_from_lambda" {
  security_group_id            = var.aurora_security_group_id
  description                  = "From the ${var.name_prefix} Lambda functions"
  ip_protocol                  = "tcp"
  from_port                    = var.aurora_port
  to_port                      = var.aurora_port
  referenced_security_group_id = aws_security_group.this.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "vpc_endpoints" {
  security_group_id            = aws_security_group.this.id
  description                  = "To the interface VPC endpoints (Snowflake PrivateLink, STS, Logs, Lambda, Monitoring)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.vpc_endpoints.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "vpc_endpoints_from_lambda" {
  security_group_id            = aws_security_group.vpc_endpoints.id
  description                  = "HTTPS from the ${var.name_prefix} Lambda functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.this.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "gateway_endpoints" {
  for_each = var.gateway_prefix_list_ids

  security_group_id = aws_security_group.this.id
  description       = "To the ${each.key} gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "vault" {
  for_each = toset(var.vault_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "To Vault"
  ip_protocol       = "tcp"
  from_port         = var.vault_port
  to_port           = var.vault_port
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "snowflake_endpoint" {
  count = var.snowflake_endpoint_security_group_id == null ? 0 : 1

  security_group_id            = aws_security_group.this.id
  description                  = "To the existing Snowflake PrivateLink endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.snowflake_endpoint_security_group_id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "snowflake_endpoint_from_lambda" {
  count = var.snowflake_endpoint_security_group_id == null ? 0 : 1

  security_group_id            = var.snowflake_endpoint_security_group_id
  description                  = "HTTPS from the ${var.name_prefix} Lambda functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.this.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https_anywhere" {
  count = var.allow_https_egress_to_anywhere ? 1 : 0

  security_group_id = aws_security_group.this.id
  description       = "HTTPS to anywhere, enabled explicitly"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}
