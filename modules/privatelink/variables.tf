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
  description = "VPC the endpoints and the private hosted zone belong to. It must have DNS support and DNS hostnames enabled."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the interface endpoints; use the Lambda subnets, one per availability zone."

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "subnet_ids must hold at least one id like subnet-0123456789abcdef0."
  }
}

variable "route_table_ids" {
  type        = list(string)
  description = "Route tables of the Lambda subnets; the S3 and DynamoDB gateway endpoints add their routes there."

  validation {
    condition     = length(var.route_table_ids) > 0 && alltrue([for id in var.route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", id))])
    error_message = "route_table_ids must hold at least one id like rtb-0123456789abcdef0."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the interface endpoints (networking module output vpc_endpoint_security_group_id)."

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "security_group_ids must hold at least one security group."
  }
}

variable "snowflake_vpc_endpoint_id" {
  type        = string
  description = "An existing interface endpoint to Snowflake PrivateLink (the seed's variable). Null to create one from snowflake_privatelink_service_name. Exactly one of the two must be set."
  default     = null

  validation {
    condition     = (var.snowflake_vpc_endpoint_id == null) != (var.snowflake_privatelink_service_name == null)
    error_message = "Set exactly one of snowflake_vpc_endpoint_id (reuse an endpoint) and snowflake_privatelink_service_name (create one)."
  }

  validation {
    condition     = var.snowflake_vpc_endpoint_id == null || can(regex("^vpce-[0-9a-f]{8,17}$", var.snowflake_vpc_endpoint_id))
    error_message = "snowflake_vpc_endpoint_id must look like vpce-0123456789abcdef0."
  }
}

variable "snowflake_privatelink_service_name" {
  type        = string
  description = "The privatelink-vpce-id that SYSTEM$GET_PRIVATELINK_CONFIG() returns in Snowflake, e.g. com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0. Used only when snowflake_vpc_endpoint_id is null."
  default     = null

  validation {
    condition     = var.snowflake_privatelink_service_name == null || can(regex("^com\\.amazonaws\\.vpce\\.[a-z0-9-]+\\.vpce-svc-[0-9a-f]+$", var.snowflake_privatelink_service_name))
    error_message = "snowflake_privatelink_service_name must look like com.amazonaws.vpce.<region>.vpce-svc-<id>."
  }
}

variable "snowflake_privatelink_account_url" {
  type        = string
  description = "privatelink-account-url from SYSTEM$GET_PRIVATELINK_CONFIG(), e.g. xy12345.us-east-1.privatelink.snowflakecomputing.com. SNOWFLAKE_ENDPOINT is usually this host."

  validation {
    condition     = can(regex("^[a-z0-9.-]+\\.privatelink\\.snowflakecomputing\\.com$", var.snowflake_privatelink_account_url))
    error_message = "snowflake_privatelink_account_url must be a host ending in .privatelink.snowflakecomputing.com (no scheme)."
  }
}

variable "snowflake_privatelink_ocsp_url" {
  type        = string
  description = "privatelink-ocsp-url from SYSTEM$GET_PRIVATELINK_CONFIG(), e.g. ocsp.xy12345.us-east-1.privatelink.snowflakecomputing.com. The connector checks certificates there."

  validation {
    condition     = can(regex("^ocsp\\.[a-z0-9.-]+\\.privatelink\\.snowflakecomputing\\.com$", var.snowflake_privatelink_ocsp_url))
    error_message = "snowflake_privatelink_ocsp_url must be a host like ocsp.<account>.<region>.privatelink.snowflakecomputing.com (no scheme)."
  }
}

variable "snowflake_additional_hostnames" {
  type        = list(string)
  description = "Other hosts from SYSTEM$GET_PRIVATELINK_CONFIG() to point at the endpoint, e.g. the regionless account URL."
  default     = []

  validation {
    condition     = alltrue([for host in var.snowflake_additional_hostnames : can(regex("^[a-z0-9.-]+\\.privatelink\\.snowflakecomputing\\.com$", host))])
    error_message = "Every additional hostname must end in .privatelink.snowflakecomputing.com (no scheme)."
  }
}

variable "private_hosted_zone_id" {
  type        = string
  description = "An existing private hosted zone for privatelink.snowflakecomputing.com already associated with the VPC. Null to create one."
  default     = null
}

variable "interface_endpoint_services" {
  type        = set(string)
  description = "AWS services reached through interface endpoints with private DNS, so that no NAT gateway is needed."
  default     = ["sts", "logs", "lambda", "monitoring"]

  validation {
    condition     = alltrue([for service in var.interface_endpoint_services : contains(["sts", "logs", "lambda", "monitoring", "xray", "sqs", "kms"], service)])
    error_message = "interface_endpoint_services may hold only sts, logs, lambda, monitoring, xray, sqs and kms."
  }
}

variable "organization_id" {
  type        = string
  description = "AWS Organizations id (o-...). Every endpoint policy admits principals of this organisation only (aws:PrincipalOrgID)."

  validation {
    condition     = can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must look like o-abcdef1234."
  }
}

variable "staging_bucket_arn" {
  type        = string
  description = "The staging bucket, the only bucket of the project the S3 gateway endpoint serves (staging_bucket module output bucket_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.staging_bucket_arn))
    error_message = "staging_bucket_arn must be an S3 bucket ARN."
  }
}

variable "state_table_arn" {
  type        = string
  description = "The state table, the only table the DynamoDB gateway endpoint serves (state_table module output table_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/.+$", var.state_table_arn))
    error_message = "state_table_arn must be a DynamoDB table ARN."
  }
}

variable "function_arns" {
  type        = list(string)
  description = "Unqualified ARNs of the project's functions, the only ones the lambda endpoint invokes (any alias or version of them)."

  validation {
    condition     = length(var.function_arns) > 0 && alltrue([for arn in var.function_arns : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", arn))])
    error_message = "function_arns must hold unqualified Lambda function ARNs."
  }
}

variable "log_group_arns" {
  type        = list(string)
  description = "The functions' log groups (without :*), the only ones the logs endpoint writes to."

  validation {
    condition     = length(var.log_group_arns) > 0 && alltrue([for arn in var.log_group_arns : can(regex("^arn:aws[a-z-]*:logs:[a-z0-9-]+:[0-9]{12}:log-group:[^*]+$", arn))])
    error_message = "log_group_arns must hold log group ARNs without wildcards."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "The environment's key, the only one the kms endpoint serves (when kms is among interface_endpoint_services)."
}

variable "queue_arns" {
  type        = list(string)
  description = "The failure queues, the only queues the sqs endpoint serves (when sqs is among interface_endpoint_services)."
  default     = []

  validation {
    condition     = !contains(var.interface_endpoint_services, "sqs") || length(var.queue_arns) > 0
    error_message = "queue_arns must name the failure queues when sqs is among interface_endpoint_services."
  }
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the application's metrics, the only one the monitoring endpoint accepts."
  default     = "AuroraBatch"
}

variable "snowflake_internal_stage_bucket_arns" {
  type        = list(string)
  description = "Snowflake's stage bucket of the account (privatelink-internal-stage of SYSTEM$GET_PRIVATELINK_CONFIG(), as arn:aws:s3:::<bucket>). The connector downloads large query results from it through the S3 gateway endpoint; empty to allow none."
  default     = []

  validation {
    condition     = alltrue([for arn in var.snowflake_internal_stage_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", arn))])
    error_message = "snowflake_internal_stage_bucket_arns must hold S3 bucket ARNs (arn:aws:s3:::<bucket>)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
