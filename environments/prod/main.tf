# The stack is modules/aurora_batch: this root names the environment, whose profile sets
# sizes, schedules and security switches, and passes the site's settings.yaml.
module "aurora_batch" {
  source = "../../modules/aurora_batch"

  environment = "prod"
  settings    = yamldecode(file("${path.module}/settings.yaml"))
}
