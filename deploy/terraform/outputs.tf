# What `linker serve` needs, by setting name: write them to the service's environment or to
# its secret files (LINKER_CLIENT_SECRET_FILE, LINKER_ACTION_SECRETS_FILE).

output "linker_settings" {
  description = "linker serve's settings for this tenant."
  sensitive   = true
  value = {
    LINKER_AUTH0_DOMAIN       = var.auth0_domain
    LINKER_CLIENT_ID          = auth0_client.linker.client_id
    LINKER_CLIENT_SECRET      = auth0_client_credentials.linker.client_secret
    LINKER_ACTION_SECRETS     = var.action_secret_previous == "" ? random_password.action_secret.result : "${random_password.action_secret.result},${var.action_secret_previous}"
    LINKER_PUBLIC_URL         = var.linker_public_url
    LINKER_ALLOWED_CLIENT_IDS = join(",", var.allowed_client_ids)
  }
}

output "client_id" {
  description = "The companion application's client id (LINKER_CLIENT_ID)."
  value       = auth0_client.linker.client_id
}

output "action_id" {
  description = "The post-login Action's id."
  value       = auth0_action.linker.id
}

output "callback_url" {
  description = "The callback URL registered on the companion application."
  value       = local.callback_url
}
