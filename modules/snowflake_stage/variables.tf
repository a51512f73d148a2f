variable "database" {
  type        = string
  description = "Snowflake database that holds the stage and the file format."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.database))
    error_message = "database must be a plain Snowflake identifier (the loader names the stage unquoted)."
  }
}

variable "schema" {
  type        = string
  description = "Snowflake schema that holds the stage and the file format."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.schema))
    error_message = "schema must be a plain Snowflake identifier (the loader names the stage unquoted)."
  }
}

variable "integration_name" {
  type        = string
  description = "Name of the storage integration, e.g. AURORA_BATCH_PROD_S3."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.integration_name))
    error_message = "integration_name must be a plain Snowflake identifier."
  }
}

variable "stage_name" {
  type        = string
  description = "Name of the external stage, e.g. AURORA_BATCH_STAGE."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.stage_name))
    error_message = "stage_name must be a plain Snowflake identifier."
  }
}

variable "file_format_name" {
  type        = string
  description = "Name of the file format the stage uses by default."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_$]{0,254}$", var.file_format_name))
    error_message = "file_format_name must be a plain Snowflake identifier."
  }
}

variable "storage_aws_role_arn" {
  type        = string
  description = "Role Snowflake assumes to read the staged files (iam module output snowflake_storage_role_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.storage_aws_role_arn))
    error_message = "storage_aws_role_arn must be an IAM role ARN."
  }
}

variable "staging_url" {
  type        = string
  description = "s3:// URL of the staging prefix (staging_bucket module output staging_url). The integration allows this location only."

  validation {
    condition     = can(regex("^s3://[a-z0-9.-]+/.+/$", var.staging_url))
    error_message = "staging_url must look like s3://bucket/prefix/."
  }
}

variable "staging_format" {
  type        = string
  description = "Format of the staged parts (STAGING_FORMAT)."
  default     = "parquet"

  validation {
    condition     = contains(["parquet", "csv"], var.staging_format)
    error_message = "staging_format must be parquet or csv."
  }
}

variable "comment" {
  type        = string
  description = "Comment put on the Snowflake objects."
  default     = "Managed by Terraform (aurora-batch)"
}
