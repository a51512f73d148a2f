variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the environment, e.g. aurora-batch-prod. The signing profile is named after it, hyphens as underscores."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "untrusted_artifact_on_deployment" {
  type        = string
  description = "What Lambda does with a package the profile did not sign: Enforce refuses it, Warn deploys it and logs a warning."

  validation {
    condition     = contains(["Enforce", "Warn"], var.untrusted_artifact_on_deployment)
    error_message = "untrusted_artifact_on_deployment must be Enforce or Warn."
  }
}

variable "signature_validity_months" {
  type        = number
  description = "How long a signature stays valid; a package signed longer ago must be signed again before it deploys."
  default     = 135

  validation {
    condition     = var.signature_validity_months >= 1 && var.signature_validity_months <= 135 && floor(var.signature_validity_months) == var.signature_validity_months
    error_message = "signature_validity_months must be a whole number from 1 to 135."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
