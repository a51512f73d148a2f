output "snowflake_vpc_endpoint_id" {
  description = "ID of the Snowflake PrivateLink endpoint, created here or reused."
  value       = local.snowflake_endpoint_id
}

output "snowflake_vpc_endpoint_dns_name" {
  description = "Regional DNS name of the Snowflake PrivateLink endpoint; the private zone's CNAME records point at it."
  value       = local.snowflake_endpoint_dns_name
}

output "snowflake_hostnames" {
  description = "Snowflake hosts that resolve to the endpoint inside the VPC."
  value       = sort(tolist(local.snowflake_hostnames))
}

output "private_hosted_zone_id" {
  description = "ID of the privatelink.snowflakecomputing.com private hosted zone."
  value       = local.private_hosted_zone_id
}

output "gateway_prefix_list_ids" {
  description = "Prefix list of each gateway endpoint, keyed by service (s3, dynamodb); give it to the networking module."
  value       = { for service, endpoint in aws_vpc_endpoint.gateway : service => endpoint.prefix_list_id }
}

output "gateway_endpoint_ids" {
  description = "ID of each gateway endpoint, keyed by service (s3, dynamodb); the staging bucket admits requests through the S3 one only."
  value       = { for service, endpoint in aws_vpc_endpoint.gateway : service => endpoint.id }
}

output "interface_endpoint_ids" {
  description = "ID of each AWS interface endpoint, keyed by service."
  value       = { for service, endpoint in aws_vpc_endpoint.interface : service => endpoint.id }
}
