# tflint configuration for modules/, environments/ and examples/ (run by .github/workflows/terraform.yml
# as `tflint --recursive --config "$GITHUB_WORKSPACE/.tflint.hcl"`).
config {
  format           = "compact"
  call_module_type = "local"
}

# Terraform language rules: every rule, including snake_case naming, documented and
# typed variables and outputs, the standard module structure and unused declarations.
plugin "terraform" {
  enabled = true
  preset  = "all"
}

plugin "aws" {
  enabled = true
  version = "0.45.0"
  source  = "github.com/terraform-linters/tflint-ruleset-aws"
}
