# State moves from the flat environment roots (every module called from the root) to the
# composition in modules/aurora_batch. Each root links this file as moved.tf, so an applied
# workspace plans no destroy of its key, bucket or state table after the upgrade.
moved {
  from = module.kms
  to   = module.aurora_batch.module.kms
}

moved {
  from = module.networking
  to   = module.aurora_batch.module.networking
}

moved {
  from = module.privatelink
  to   = module.aurora_batch.module.privatelink
}

moved {
  from = module.staging_bucket
  to   = module.aurora_batch.module.staging_bucket
}

moved {
  from = module.state_table
  to   = module.aurora_batch.module.state_table
}

moved {
  from = module.iam
  to   = module.aurora_batch.module.iam
}

moved {
  from = module.replication_function
  to   = module.aurora_batch.module.lambda_function["replication"]
}

moved {
  from = module.s3_cleanup_function
  to   = module.aurora_batch.module.lambda_function["s3_cleanup"]
}

moved {
  from = module.watermark_admin_function
  to   = module.aurora_batch.module.lambda_function["watermark_admin"]
}

moved {
  from = module.scheduling
  to   = module.aurora_batch.module.scheduling
}

moved {
  from = module.monitoring
  to   = module.aurora_batch.module.monitoring
}
