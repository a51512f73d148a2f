# Site facts (ids, hosts) have no default: give them in the workspace or in
# terraform.tfvars (see terraform.tfvars.example). Sizes, schedules and alarm
# thresholds default to this environment's choice.

variable "aws_region" {
  type        = string
  description = "AWS region of the stack."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as us-east-1."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the Lambda functions run in (the VPC of the Aurora cluster or one peered with it)."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the Lambda functions and the interface endpoints, one per availability zone."
}

variable "route_table_ids" {
  type        = list(string)
  description = "Route tables of those subnets, for the S3 and DynamoDB gateway endpoints."
}

variable "aurora_endpoint" {
  type        = string
  description = "Aurora cluster endpoint. The functions read the connection itself from Vault; this names the cluster in the security group rules."
}

variable "aurora_security_group_id" {
  type        = string
  description = "Security group of the Aurora cluster; it gets an ingress rule from the functions."
}

variable "aurora_port" {
  type        = number
  description = "PostgreSQL port of the Aurora cluster."
  default     = 5432
}

variable "vault_addr" {
  type        = string
  description = "Vault address (VAULT_ADDR), https with an optional port."

  validation {
    condition     = can(regex("^https://[^/:]+(:[0-9]+)?/?$", var.vault_addr))
    error_message = "vault_addr must be an https:// address such as https://vault.example.com or https://vault.example.com:8200."
  }
}

variable "vault_role" {
  type        = string
  description = "Vault aws-auth role the replication function logs in with (VAULT_ROLE). Bind it to the lambda_role_arns output; no token ships with the function."
}

variable "vault_auth_mount" {
  type        = string
  description = "Mount path of Vault's aws auth method (VAULT_AUTH_MOUNT)."
  default     = "aws"
}

variable "vault_iam_server_id" {
  type        = string
  description = "Value of the X-Vault-AWS-IAM-Server-ID header the aws auth method requires, if it requires one (VAULT_IAM_SERVER_ID)."
  default     = null
}

variable "vault_secret_path_aurora" {
  type        = string
  description = "Vault path of the Aurora connection (VAULT_SECRET_PATH_AURORA)."
  default     = "secret/aurora/connection"
}

variable "vault_secret_path_snowflake" {
  type        = string
  description = "Vault path of the Snowflake credentials (VAULT_SECRET_PATH_SNOWFLAKE)."
  default     = "secret/snowflake/credentials"
}

variable "vault_cidr_blocks" {
  type        = list(string)
  description = "CIDR blocks of Vault's listeners, reachable from the functions on the port of vault_addr."
}

variable "snowflake_vpc_endpoint_id" {
  type        = string
  description = "Existing VPC endpoint for Snowflake PrivateLink. Null to create one from snowflake_privatelink_service_name."
  default     = null
}

variable "snowflake_endpoint_security_group_id" {
  type        = string
  description = "Security group of the existing Snowflake endpoint (with snowflake_vpc_endpoint_id); it gets an ingress rule from the functions."
  default     = null
}

variable "snowflake_privatelink_service_name" {
  type        = string
  description = "privatelink-vpce-id from SYSTEM$GET_PRIVATELINK_CONFIG(), to create the endpoint (when snowflake_vpc_endpoint_id is null)."
  default     = null
}

variable "snowflake_privatelink_account_url" {
  type        = string
  description = "privatelink-account-url from SYSTEM$GET_PRIVATELINK_CONFIG()."
}

variable "snowflake_privatelink_ocsp_url" {
  type        = string
  description = "privatelink-ocsp-url from SYSTEM$GET_PRIVATELINK_CONFIG()."
}

variable "snowflake_endpoint" {
  type        = string
  description = "Snowflake host the functions connect to (SNOWFLAKE_ENDPOINT). Null for snowflake_privatelink_account_url."
  default     = null
}

variable "snowflake_stage_name" {
  type        = string
  description = "External stage the loader copies from (SNOWFLAKE_STAGE): STAGE, SCHEMA.STAGE or DB.SCHEMA.STAGE, unquoted (modules/snowflake_stage output qualified_stage_name)."
  default     = "AURORA_BATCH_STAGE"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]*(\\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$", var.snowflake_stage_name))
    error_message = "snowflake_stage_name must be STAGE, SCHEMA.STAGE or DB.SCHEMA.STAGE of plain identifiers (letters, digits, _ and $), unquoted."
  }
}

variable "snowflake_storage_aws_iam_user_arn" {
  type        = string
  description = "STORAGE_AWS_IAM_USER_ARN of the Snowflake storage integration (modules/snowflake_stage output storage_aws_iam_user_arn, or DESC INTEGRATION). Null until the integration exists: the storage role is created once it is set."
  default     = null
}

variable "snowflake_storage_external_id" {
  type        = string
  description = "STORAGE_AWS_EXTERNAL_ID of the Snowflake storage integration (modules/snowflake_stage output storage_aws_external_id, or DESC INTEGRATION)."
  default     = null
}

variable "artifact_bucket" {
  type        = string
  description = "S3 bucket with the first deployment packages; Harness deploys later versions."
}

variable "artifact_keys" {
  type = object({
    replication     = string
    s3_cleanup      = string
    watermark_admin = string
  })
  description = "Keys of the first deployment packages (the zips from make build) in artifact_bucket."
  default = {
    replication     = "aurora-batch/bootstrap/replication.zip"
    s3_cleanup      = "aurora-batch/bootstrap/s3_cleanup.zip"
    watermark_admin = "aurora-batch/bootstrap/watermark_admin.zip"
  }
}

variable "lambda_architecture" {
  type        = string
  description = "Architecture of the functions; must match the packages."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_timeout" {
  type        = number
  description = "Timeout of the replication function in seconds (max 900); long tables continue in a new invocation."
  default     = 900
}

variable "lambda_memory_size" {
  type        = number
  description = "Memory of the replication function in MB."
  default     = 3008
}

variable "replication_reserved_concurrency" {
  type        = number
  description = "Reserved (and maximum) concurrency of the replication function: tables replicated at once."
  default     = 10
}

variable "schedule_expression" {
  type        = string
  description = "Schedule of the seed's single table (schema_name.table_name)."
  default     = "rate(1 hour)"
}

variable "replication_mode" {
  type        = string
  description = "Default mode (REPLICATION_MODE): full or incremental."
  default     = "full"

  validation {
    condition     = contains(["full", "incremental"], var.replication_mode)
    error_message = "replication_mode must be full or incremental."
  }
}

variable "incremental_column" {
  type        = string
  description = "Default watermark column (INCREMENTAL_COLUMN) for incremental mode."
  default     = null
}

variable "batch_size" {
  type        = number
  description = "Rows per batch (BATCH_SIZE)."
  default     = 10000
}

variable "schema_name" {
  type        = string
  description = "Default schema (SCHEMA_NAME)."
  default     = "public"
}

variable "table_name" {
  type        = string
  description = "The seed's single table (TABLE_NAME). When set, it is scheduled with schedule_expression, replication_mode and incremental_column, besides the tables map."
  default     = null
}

variable "tables" {
  type = map(object({
    schedule_expression = string
    enabled             = optional(bool, true)
    mode                = optional(string, "full")
    incremental_column  = optional(string)
    lookback_seconds    = optional(number)
    lookback_integer    = optional(number)
    merge_keys          = optional(list(string))
    batch_size          = optional(number)
    full_refresh        = optional(bool)
    include_columns     = optional(list(string))
    exclude_columns     = optional(list(string))
    rename_columns      = optional(map(string))
    target_table        = optional(string)
    target_schema       = optional(string)
    masking = optional(map(object({
      rule        = string
      keep_last   = optional(number)
      truncate_to = optional(string)
      keys        = optional(list(string))
    })))
    where                  = optional(string)
    transform              = optional(string)
    on_incompatible_change = optional(string, "fail")
  }))
  description = "Tables to replicate, keyed \"schema.table\", each with its own schedule and options, masking and row filter included (scheduling module, docs/CUSTOMIZATION.md)."
  default     = {}
}

variable "staging_bucket_name" {
  type        = string
  description = "Globally unique name of the staging bucket."
}

variable "staging_prefix" {
  type        = string
  description = "Key prefix of the staged parts (STAGING_PREFIX)."
  default     = "staging/"
}

variable "staging_format" {
  type        = string
  description = "Format of the staged parts (STAGING_FORMAT): parquet or csv."
  default     = "parquet"

  validation {
    condition     = contains(["parquet", "csv"], var.staging_format)
    error_message = "staging_format must be parquet or csv."
  }
}

variable "staging_expiration_days" {
  type        = number
  description = "Lifecycle safety net: staged objects expire after this many days."
  default     = 7
}

variable "cleanup_schedule_expression" {
  type        = string
  description = "Schedule of the S3 cleanup function."
  default     = "rate(6 hours)"
}

variable "cleanup_older_than_hours" {
  type        = number
  description = "Age above which the cleanup deletes staged objects."
  default     = 24
}

variable "staleness_threshold_seconds" {
  type        = number
  description = "A table alarms as stale when its ReplicationLagSeconds exceeds this."
  default     = 7200
}

variable "table_staleness_threshold_seconds" {
  type        = map(number)
  description = "Per-table staleness thresholds, keyed schema.table, overriding staleness_threshold_seconds."
  default     = {}
}

variable "staleness_evaluation_period_seconds" {
  type        = number
  description = "Period of the not-running and staleness alarms; at least the longest schedule interval, since a period without a completed run alarms."
  default     = 3600
}

variable "duration_threshold_percent" {
  type        = number
  description = "Share of the timeout above which a function's duration alarms."
  default     = 90
}

variable "alarm_email_addresses" {
  type        = list(string)
  description = "Addresses subscribed to the alarm topic."
  default     = []
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the functions."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the functions' log groups."
  default     = 731
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource, besides Project, Environment and ManagedBy."
  default     = {}
}
