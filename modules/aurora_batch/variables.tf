variable "environment" {
  type        = string
  description = "Environment this stack is, one of the profiles (dev, staging, prod): it picks the sizes, schedules, retention, thresholds and security switches of local.profiles."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod (a key of local.profiles)."
  }
}

# One object, so that an environment root passes its settings file through in one line.
# Site facts (ids, hosts) have no default; the rest defaults to the project's choice.
variable "settings" {
  type = object({
    aws_region                           = string
    vpc_id                               = string
    subnet_ids                           = list(string)
    route_table_ids                      = list(string)
    organization_id                      = string
    administrator_arns                   = list(string)
    admin_principals                     = optional(list(string), [])
    aurora_endpoint                      = string
    aurora_security_group_id             = string
    aurora_port                          = optional(number, 5432)
    vault_addr                           = string
    vault_role                           = string
    vault_cidr_blocks                    = list(string)
    vault_auth_mount                     = optional(string, "aws")
    vault_iam_server_id                  = optional(string)
    vault_secret_path_aurora             = optional(string, "secret/aurora/connection")
    vault_secret_path_snowflake          = optional(string, "secret/snowflake/credentials")
    snowflake_vpc_endpoint_id            = optional(string)
    snowflake_endpoint_security_group_id = optional(string)
    snowflake_privatelink_service_name   = optional(string)
    snowflake_privatelink_account_url    = string
    snowflake_privatelink_ocsp_url       = string
    snowflake_internal_stage_bucket_arns = optional(list(string), [])
    snowflake_endpoint                   = optional(string)
    snowflake_stage_name                 = optional(string, "AURORA_BATCH_STAGE")
    snowflake_storage_aws_iam_user_arn   = optional(string)
    snowflake_storage_external_id        = optional(string)
    artifact_bucket                      = string
    artifact_keys = optional(object({
      replication     = string
      s3_cleanup      = string
      watermark_admin = string
    }), {
      replication     = "aurora-batch/bootstrap/replication.zip"
      s3_cleanup      = "aurora-batch/bootstrap/s3_cleanup.zip"
      watermark_admin = "aurora-batch/bootstrap/watermark_admin.zip"
    })
    lambda_architecture = optional(string, "arm64")
    replication_mode    = optional(string, "full")
    incremental_column  = optional(string)
    batch_size          = optional(number, 10000)
    schema_name         = optional(string, "public")
    table_name          = optional(string)
    tables = optional(map(object({
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
      full_refresh_strategy  = optional(string, "overwrite")
      row_digest             = optional(bool, false)
      delete_mode            = optional(string, "soft")
      verify_schedule        = optional(string)
      verify_repair          = optional(bool, true)
      verify_on_drift        = optional(bool, false)
    })), {})
    staging_bucket_name               = string
    staging_prefix                    = optional(string, "staging/")
    staging_format                    = optional(string, "parquet")
    cleanup_older_than_hours          = optional(number, 24)
    table_staleness_threshold_seconds = optional(map(number), {})
    duration_threshold_percent        = optional(number, 90)
    alarm_email_addresses             = optional(list(string), [])
    tags                              = optional(map(string), {})
    # Sizes, schedules and thresholds come from the environment's profile; these
    # override one where a site needs it. Security switches cannot be overridden.
    lambda_timeout                      = optional(number)
    lambda_memory_size                  = optional(number)
    replication_reserved_concurrency    = optional(number)
    schedule_expression                 = optional(string)
    staging_expiration_days             = optional(number)
    cleanup_schedule_expression         = optional(string)
    staleness_threshold_seconds         = optional(number)
    staleness_evaluation_period_seconds = optional(number)
    log_level                           = optional(string)
    log_retention_in_days               = optional(number)
  })
  description = "The environment's settings (environments/<env>/settings.yaml): site facts (VPC, Aurora, Vault, Snowflake PrivateLink, buckets, organisation, administrators), the tables and their options, and overrides of the profile. README.md lists each attribute."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.settings.aws_region))
    error_message = "settings.aws_region must be a region name such as us-east-1."
  }

  validation {
    condition     = can(regex("^o-[a-z0-9]{10,32}$", var.settings.organization_id))
    error_message = "settings.organization_id must be an AWS Organizations id such as o-abcdef1234."
  }

  validation {
    condition     = length(var.settings.administrator_arns) > 0 && alltrue([for arn in var.settings.administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "settings.administrator_arns must hold at least one IAM role or user ARN (the Terraform run role, a break-glass role)."
  }

  validation {
    condition     = alltrue([for arn in var.settings.admin_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[^*?,]+$", arn))])
    error_message = "settings.admin_principals must be IAM role or user ARNs without wildcards (the roles and users that may set, reset and unlock watermarks)."
  }

  validation {
    condition     = can(regex("^https://[^/:]+(:[0-9]+)?/?$", var.settings.vault_addr))
    error_message = "settings.vault_addr must be an https:// address such as https://vault.example.com or https://vault.example.com:8200."
  }

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]*(\\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$", var.settings.snowflake_stage_name))
    error_message = "settings.snowflake_stage_name must be STAGE, SCHEMA.STAGE or DB.SCHEMA.STAGE of plain identifiers (letters, digits, _ and $), unquoted."
  }

  validation {
    condition     = contains(["arm64", "x86_64"], var.settings.lambda_architecture)
    error_message = "settings.lambda_architecture must be arm64 or x86_64."
  }

  validation {
    condition     = contains(["full", "incremental"], var.settings.replication_mode)
    error_message = "settings.replication_mode must be full or incremental."
  }

  validation {
    condition     = contains(["parquet", "csv"], var.settings.staging_format)
    error_message = "settings.staging_format must be parquet or csv."
  }

  validation {
    condition     = var.settings.log_level == null || contains(["DEBUG", "INFO", "WARNING", "ERROR"], coalesce(var.settings.log_level, "INFO"))
    error_message = "settings.log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}
