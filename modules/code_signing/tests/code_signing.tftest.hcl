mock_provider "aws" {}

variables {
  name_prefix                      = "aurora-batch-prod"
  untrusted_artifact_on_deployment = "Enforce"
}

run "profile_and_config" {
  command = plan

  assert {
    condition     = aws_signer_signing_profile.this.name == "aurora_batch_prod" && aws_signer_signing_profile.this.platform_id == "AWSLambda-SHA384-ECDSA"
    error_message = "The profile must sign Lambda packages and take a name Signer accepts."
  }

  assert {
    condition     = aws_lambda_code_signing_config.this.policies[0].untrusted_artifact_on_deployment == "Enforce"
    error_message = "The policy must be passed through."
  }
}

run "policy_is_a_closed_set" {
  command = plan

  variables {
    untrusted_artifact_on_deployment = "Off"
  }

  expect_failures = [var.untrusted_artifact_on_deployment]
}
