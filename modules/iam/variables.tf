variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the environment, e.g. aurora-batch-dev."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "function_names" {
  type = object({
    replication     = string
    s3_cleanup      = string
    watermark_admin = string
  })
  description = "Name of each Lambda function. Roles are scoped to these names (log group, self-invocation), so the ARNs are known before the functions exist."
}

variable "dead_letter_queue_arns" {
  type = object({
    replication     = string
    s3_cleanup      = string
    watermark_admin = string
  })
  description = "On-failure destination queue of each function (lambda_function module output dead_letter_queue_arn). The execution role sends the failure records."
}

variable "staging_bucket_arn" {
  type        = string
  description = "ARN of the staging bucket (staging_bucket module output bucket_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.staging_bucket_arn))
    error_message = "staging_bucket_arn must be an S3 bucket ARN."
  }
}

variable "staging_prefix" {
  type        = string
  description = "Key prefix the replication function stages under. Every S3 permission, including Snowflake's, is limited to it."

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$", var.staging_prefix))
    error_message = "staging_prefix must be a non-empty key prefix ending in / and not starting with /."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Key that encrypts the staging bucket and the state table (kms module output key_arn)."
}

variable "state_table_arn" {
  type        = string
  description = "ARN of the DynamoDB state table (state_table module output table_arn)."
}

variable "create_snowflake_storage_role" {
  type        = bool
  description = "Create the role the Snowflake storage integration assumes. Needs snowflake_storage_aws_iam_user_arn and snowflake_storage_external_id."
  default     = true

  validation {
    condition     = !var.create_snowflake_storage_role || (var.snowflake_storage_aws_iam_user_arn != null && var.snowflake_storage_external_id != null)
    error_message = "create_snowflake_storage_role needs snowflake_storage_aws_iam_user_arn and snowflake_storage_external_id (DESC INTEGRATION in Snowflake shows both)."
  }
}

variable "snowflake_storage_aws_iam_user_arn" {
  type        = string
  description = "STORAGE_AWS_IAM_USER_ARN of the Snowflake storage integration (DESC INTEGRATION, or snowflake_stage module output storage_aws_iam_user_arn)."
  default     = null

  validation {
    condition     = var.snowflake_storage_aws_iam_user_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:user/.+$", var.snowflake_storage_aws_iam_user_arn))
    error_message = "snowflake_storage_aws_iam_user_arn must be an IAM user ARN, e.g. arn:aws:iam::123456789012:user/abc1-b-self1234."
  }
}

variable "snowflake_storage_external_id" {
  type        = string
  description = "STORAGE_AWS_EXTERNAL_ID of the Snowflake storage integration. Only Snowflake presenting it may assume the role. Not a secret: it prevents the confused-deputy problem."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
