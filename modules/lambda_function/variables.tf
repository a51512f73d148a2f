variable "function_name" {
  type        = string
  description = "Name of the Lambda function, e.g. aurora-batch-prod-replication."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  type        = string
  description = "Description of the function shown in the console."
  default     = ""
}

variable "role_arn" {
  type        = string
  description = "Execution role (iam module output lambda_role_arns[<function>])."
}

variable "s3_bucket" {
  type        = string
  description = "Artifact bucket holding the first deployment package. Later deployments are made by Harness and ignored by Terraform."
}

variable "s3_key" {
  type        = string
  description = "Key of the first deployment package (a zip from make build) in s3_bucket."
}

variable "s3_object_version" {
  type        = string
  description = "Version of the first deployment package object, when the artifact bucket is versioned."
  default     = null
}

variable "handler" {
  type        = string
  description = "Entry point: every aurora-batch service exposes handler.lambda_handler."
  default     = "handler.lambda_handler"
}

variable "runtime" {
  type        = string
  description = "Lambda runtime."
  default     = "python3.12"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set; must match the wheels in the package (make build targets arm64 by default)."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  type        = number
  description = "Memory in MB; CPU is allotted in proportion."
  default     = 1024

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  type        = number
  description = "Timeout in seconds. The replication function stops at a part boundary before it and continues in a new invocation."
  default     = 300

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "ephemeral_storage_size" {
  type        = number
  description = "Size of /tmp in MB."
  default     = 512

  validation {
    condition     = var.ephemeral_storage_size >= 512 && var.ephemeral_storage_size <= 10240
    error_message = "ephemeral_storage_size must be between 512 and 10240 MB."
  }
}

variable "reserved_concurrent_executions" {
  type        = number
  description = "Concurrency reserved for the function, which is also its ceiling. -1 leaves it unreserved."
  default     = 10

  validation {
    condition     = var.reserved_concurrent_executions >= -1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be a whole number, -1 or more."
  }
}

variable "environment_variables" {
  type        = map(string)
  description = "Environment of the function. Settings only: secrets stay in Vault, so names like VAULT_TOKEN or *PASSWORD* are refused."
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.environment_variables) : !can(regex("(?i)(^VAULT_TOKEN$|PASSWORD|PRIVATE_KEY|ACCESS_KEY|SECRET_KEY)", name))])
    error_message = "environment_variables must not carry secrets (VAULT_TOKEN, *PASSWORD*, *PRIVATE_KEY*, *ACCESS_KEY*, *SECRET_KEY*): Vault holds them."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the function, one per availability zone."

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "subnet_ids must hold at least one id like subnet-0123456789abcdef0."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the function (networking module output lambda_security_group_ids[<function>])."

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "security_group_ids must hold at least one security group."
  }
}

variable "tracing_mode" {
  type        = string
  description = "X-Ray tracing mode."
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the function's log group."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Key that encrypts the log group and the failure queue (kms module output key_arn)."
}

variable "code_signing_config_arn" {
  type        = string
  description = "Code-signing config the packages are checked against (code_signing module output config_arn). Required: no function runs unsigned code unnoticed."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:code-signing-config:csc-[0-9a-z]+$", var.code_signing_config_arn))
    error_message = "code_signing_config_arn must be a Lambda code-signing config ARN."
  }
}

variable "maximum_retry_attempts" {
  type        = number
  description = "Retries of a failed asynchronous invocation before it goes to the failure queue."
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  type        = number
  description = "Age after which an asynchronous event that has not run goes to the failure queue."
  default     = 21600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600
    error_message = "maximum_event_age_in_seconds must be between 60 and 21600."
  }
}

variable "dead_letter_message_retention_seconds" {
  type        = number
  description = "How long failure records stay in the failure queue."
  default     = 1209600

  validation {
    condition     = var.dead_letter_message_retention_seconds >= 60 && var.dead_letter_message_retention_seconds <= 1209600
    error_message = "dead_letter_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "alias_name" {
  type        = string
  description = "Alias that schedules invoke and that Harness moves to each newly published version."
  default     = "live"

  validation {
    condition     = can(regex("^[A-Za-z_-][A-Za-z0-9_-]{0,127}$", var.alias_name))
    error_message = "alias_name must be 1-128 letters, digits, hyphens or underscores and not start with a digit."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}

variable "function_url" {
  type = object({
    invoker_principal_arns = list(string)
  })
  description = "A function URL on the alias, with AWS_IAM authentication (never NONE), that only these IAM role or user ARNs may invoke: the resource policy grants them lambda:InvokeFunctionUrl (condition lambda:FunctionUrlAuthType = AWS_IAM) and lambda:InvokeFunction through the URL only (lambda:InvokedViaFunctionUrl). null: no URL."
  default     = null

  validation {
    condition = var.function_url == null || (
      length(try(var.function_url.invoker_principal_arns, [])) > 0 &&
      alltrue([for arn in try(var.function_url.invoker_principal_arns, []) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[^*?]+$", arn))])
    )
    error_message = "function_url.invoker_principal_arns must hold at least one IAM role or user ARN, without wildcards."
  }
}
