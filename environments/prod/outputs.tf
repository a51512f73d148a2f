output "aurora_batch" {
  description = "Every output of the composition (modules/aurora_batch/README.md): function names, roles, buckets, table, key, signing profile, endpoints, schedules, alarms."
  value       = module.aurora_batch
}
