variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the environment, e.g. aurora-batch-dev."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the Lambda functions and the interface endpoints run in."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "aurora_security_group_id" {
  type        = string
  description = "Security group of the Aurora cluster. The module adds an ingress rule to it from the replication function's security group on aurora_port."

  validation {
    condition     = can(regex("^sg-[0-9a-f]{8,17}$", var.aurora_security_group_id))
    error_message = "aurora_security_group_id must look like sg-0123456789abcdef0."
  }
}

variable "aurora_port" {
  type        = number
  description = "PostgreSQL port of the Aurora cluster."
  default     = 5432

  validation {
    condition     = var.aurora_port >= 1 && var.aurora_port <= 65535
    error_message = "aurora_port must be a TCP port (1-65535)."
  }
}

variable "aurora_endpoint" {
  type        = string
  description = "Aurora cluster endpoint host. Only named in the rule descriptions, so that a reader of the security group sees which cluster it opens."
  default     = null
}

variable "vault_cidr_blocks" {
  type        = list(string)
  description = "CIDR blocks where Vault listens (its load balancer or nodes). The Lambda may reach them on vault_port."
  default     = []

  validation {
    condition     = alltrue([for cidr in var.vault_cidr_blocks : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"])
    error_message = "vault_cidr_blocks must be IPv4 CIDR blocks; 0.0.0.0/0 is only allowed through allow_https_egress_to_anywhere."
  }
}

variable "vault_port" {
  type        = number
  description = "TCP port of VAULT_ADDR."
  default     = 443

  validation {
    condition     = var.vault_port >= 1 && var.vault_port <= 65535
    error_message = "vault_port must be a TCP port (1-65535)."
  }
}

variable "gateway_prefix_list_ids" {
  type        = map(string)
  description = "Prefix lists of the S3 and DynamoDB gateway endpoints, keyed by service (privatelink module output gateway_prefix_list_ids). The Lambda may reach them on 443."
  default     = {}
}

variable "snowflake_endpoint_security_group_id" {
  type        = string
  description = "Security group of an existing Snowflake PrivateLink endpoint (when snowflake_vpc_endpoint_id is given). Null when the privatelink module creates the endpoint, which then uses the VPC endpoint security group of this module."
  default     = null

  validation {
    condition     = var.snowflake_endpoint_security_group_id == null || can(regex("^sg-[0-9a-f]{8,17}$", var.snowflake_endpoint_security_group_id))
    error_message = "snowflake_endpoint_security_group_id must look like sg-0123456789abcdef0."
  }
}

variable "allow_https_egress_to_anywhere" {
  type        = bool
  description = "Adds an egress rule to 0.0.0.0/0 on 443. Off by default: every destination is reached through a VPC endpoint. Turn on only for a VPC that routes to a NAT gateway on purpose."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
