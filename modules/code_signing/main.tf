# One AWS Signer profile per environment: CI signs every package of `make build` with
# it, and Lambda checks each function's package against it on every deployment.
resource "aws_signer_signing_profile" "this" {
  # Signer names take letters, digits and underscores only.
  name        = replace(var.name_prefix, "-", "_")
  platform_id = "AWSLambda-SHA384-ECDSA"

  signature_validity_period {
    value = var.signature_validity_months
    type  = "MONTHS"
  }

  tags = var.tags
}

resource "aws_lambda_code_signing_config" "this" {
  description = "${var.name_prefix}: packages signed by ${aws_signer_signing_profile.this.name}"

  allowed_publishers {
    signing_profile_version_arns = [aws_signer_signing_profile.this.version_arn]
  }

  policies {
    # Enforce refuses an unsigned or foreign package; Warn deploys it and logs.
    untrusted_artifact_on_deployment = var.untrusted_artifact_on_deployment
  }

  tags = var.tags
}
