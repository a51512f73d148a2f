variable "bucket_name" {
  type        = string
  description = "Globally unique name of the staging bucket, e.g. aurora-batch-prod-staging-123456789012."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "staging_prefix" {
  type        = string
  description = "Key prefix the parts are staged under (STAGING_PREFIX). The lifecycle rules apply to it."
  default     = "staging/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$", var.staging_prefix))
    error_message = "staging_prefix must be a non-empty key prefix ending in / and not starting with /."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Key for SSE-KMS (kms module output key_arn). An S3 bucket key keeps KMS requests low."
}

variable "versioning_enabled" {
  type        = bool
  description = "Keep object versions. Off by default: staged parts are written once, loaded and deleted; noncurrent versions expire after noncurrent_version_expiration_days."
  default     = false
}

variable "expiration_days" {
  type        = number
  description = "Safety net: staged objects are deleted this many days after creation even if the run and the cleanup function both missed them."
  default     = 7

  validation {
    condition     = var.expiration_days >= 1
    error_message = "expiration_days must be 1 or more."
  }
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days a noncurrent version is kept when versioning is on."
  default     = 1

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be 1 or more."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  type        = number
  description = "Days after which an unfinished multipart upload (a crashed run) is aborted and its parts freed."
  default     = 1

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1
    error_message = "abort_incomplete_multipart_upload_days must be 1 or more."
  }
}

variable "access_logging_enabled" {
  type        = bool
  description = "Write server access logs of the staging bucket, to access_log_bucket_name or to a log bucket this module creates."
  default     = false
}

variable "access_log_bucket_name" {
  type        = string
  description = "Existing bucket that receives the server access logs (it must admit logging.s3.amazonaws.com). Null to create <bucket_name>-access-logs when access_logging_enabled."
  default     = null
}

variable "access_log_expiration_days" {
  type        = number
  description = "Days the created log bucket keeps an access log."
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be 1 or more."
  }
}

variable "vpc_endpoint_ids" {
  type        = list(string)
  description = "VPC endpoints requests must come through (privatelink module output gateway_endpoint_ids[\"s3\"]); other requests are denied unless their principal is exempt."

  validation {
    condition     = length(var.vpc_endpoint_ids) > 0 && alltrue([for id in var.vpc_endpoint_ids : can(regex("^vpce-[0-9a-f]{8,17}$", id))])
    error_message = "vpc_endpoint_ids must hold at least one id like vpce-0123456789abcdef0."
  }
}

variable "vpc_endpoint_exempt_principal_arns" {
  type        = list(string)
  description = "Principals that may reach the bucket from outside the VPC endpoint: the Snowflake storage role and the deployment and administration roles. Their IAM policies still limit what they do."

  validation {
    condition     = length(var.vpc_endpoint_exempt_principal_arns) > 0 && alltrue([for arn in var.vpc_endpoint_exempt_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "vpc_endpoint_exempt_principal_arns must hold at least one IAM role or user ARN (no wildcard account, no root)."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Allow destroying the bucket while it still holds objects (for ephemeral environments only)."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
