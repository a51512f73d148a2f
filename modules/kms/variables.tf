variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the environment, e.g. aurora-batch-dev. The key alias is alias/<name_prefix>."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "deletion_window_in_days" {
  type        = number
  description = "Days AWS waits before deleting the key once it is scheduled for deletion."
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "key_administrator_arns" {
  type        = list(string)
  description = "IAM roles or users that manage the key (the Terraform run role, a break-glass role). They may not use it on data. They must exist: KMS checks them when the policy is put."

  validation {
    condition     = length(var.key_administrator_arns) > 0 && alltrue([for arn in var.key_administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "key_administrator_arns must hold at least one IAM role or user ARN; the account root is not an administrator."
  }
}

variable "key_user_arns" {
  type        = list(string)
  description = "IAM roles that use the key on data: the function roles and the Snowflake storage role (iam module output key_user_arns). They may not manage it."

  validation {
    condition     = length(var.key_user_arns) > 0 && alltrue([for arn in var.key_user_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "key_user_arns must hold at least one IAM role ARN."
  }
}

variable "log_group_arns" {
  type        = list(string)
  description = "Log groups CloudWatch Logs may encrypt with the key (the functions' /aws/lambda/<name> groups), without the :* suffix."

  validation {
    condition     = length(var.log_group_arns) > 0 && alltrue([for arn in var.log_group_arns : can(regex("^arn:aws[a-z-]*:logs:[a-z0-9-]+:[0-9]{12}:log-group:[^*]+$", arn))])
    error_message = "log_group_arns must hold at least one log group ARN, without wildcards."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
