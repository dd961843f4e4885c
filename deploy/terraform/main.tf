# linker's side of an Auth0 tenant: the companion application, its Management API grant, the
# post-login Action (the shim shipped with linker) with its secrets, and the trigger binding.

locals {
  callback_url = "${var.linker_public_url}/link/callback"
  management   = "https://${var.auth0_domain}/api/v2/"
  action_file  = coalesce(var.action_file, "${path.module}/../action/linker-action.js")
}

# The companion Regular Web App: linker's nested login, and its Management API client.
resource "auth0_client" "linker" {
  name        = var.client_name
  description = "linker: client-initiated account linking (nested login and Management API)."
  app_type    = "regular_web"
  callbacks   = [local.callback_url]
  grant_types = ["authorization_code", "client_credentials"]

  oidc_conformant = true

  jwt_configuration {
    alg = "RS256"
  }
}

# linker sends its secret in the token request body.
resource "auth0_client_credentials" "linker" {
  client_id             = auth0_client.linker.client_id
  authentication_method = "client_secret_post"
}

# Linking needs exactly these two scopes, nothing more.
resource "auth0_client_grant" "linker_management" {
  client_id = auth0_client.linker.client_id
  audience  = local.management
  scopes    = ["read:users", "update:users"]
}

# Signs start tokens (Action) and result tokens (service); 64 characters, well over 32 bytes.
resource "random_password" "action_secret" {
  length  = 64
  special = false
}

resource "auth0_action" "linker" {
  name    = var.action_name
  runtime = "node22"
  deploy  = true
  code    = file(local.action_file)

  supported_triggers {
    id      = "post-login"
    version = "v3"
  }

  secrets {
    name  = "LINKER_URL"
    value = var.linker_public_url
  }

  secrets {
    name  = "LINKER_ACTION_SECRET"
    value = random_password.action_secret.result
  }

  secrets {
    name  = "LINKER_CLIENT_ID"
    value = auth0_client.linker.client_id
  }

  # Only while rolling the secret; whether it is set is not itself a secret.
  dynamic "secrets" {
    for_each = nonsensitive(var.action_secret_previous != "") ? ["LINKER_ACTION_SECRET_PREVIOUS"] : []
    content {
      name  = secrets.value
      value = var.action_secret_previous
    }
  }

  # Suggested linking at sign-in (docs/protocol.md section 8): only when it is on.
  dynamic "secrets" {
    for_each = var.suggest != "off" ? ["LINKER_SUGGEST"] : []
    content {
      name  = secrets.value
      value = var.suggest
    }
  }
  dynamic "secrets" {
    for_each = var.suggest != "off" ? ["LINKER_SUGGEST_INTERVAL"] : []
    content {
      name  = secrets.value
      value = tostring(var.suggest_interval)
    }
  }
}

# linker's Action runs first, so that no other Action redirects before the linking round trip.
resource "auth0_trigger_actions" "post_login" {
  trigger = "post-login"

  actions {
    id           = auth0_action.linker.id
    display_name = auth0_action.linker.name
  }

  dynamic "actions" {
    for_each = var.post_login_actions_after
    content {
      id           = actions.value.id
      display_name = actions.value.display_name
    }
  }
}
