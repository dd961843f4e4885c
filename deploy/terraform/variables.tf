variable "auth0_domain" {
  description = "The tenant's canonical domain, e.g. example.eu.auth0.com (the Management API audience is https://DOMAIN/api/v2/)."
  type        = string
}

variable "linker_public_url" {
  description = "linker's external base URL, without a trailing slash, e.g. https://linker.example.com."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/?#]+(/[^?#]*[^/?#])?$", var.linker_public_url))
    error_message = "linker_public_url must be an absolute http(s) URL without a trailing slash, query or fragment."
  }
}

variable "allowed_client_ids" {
  description = "Client ids of the applications that may ask for linking (LINKER_ALLOWED_CLIENT_IDS); [\"*\"] allows every application of the tenant."
  type        = list(string)

  validation {
    condition     = length(var.allowed_client_ids) > 0
    error_message = "allowed_client_ids must name at least one application (or \"*\")."
  }
}

variable "client_name" {
  description = "Name of the companion Regular Web Application."
  type        = string
  default     = "linker"
}

variable "action_name" {
  description = "Name of the post-login Action."
  type        = string
  default     = "linker"
}

variable "action_file" {
  description = "Path of the Action shim; default: deploy/action/linker-action.js beside this module (from a pip install: `linker action --write PATH`)."
  type        = string
  default     = null
}

variable "action_secret_previous" {
  description = "While rolling the Action secret: the previous LINKER_ACTION_SECRET (see deploy/action/README.md)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "suggest" {
  description = "Suggested linking at sign-in, the Action's LINKER_SUGGEST: off, suggest (with \"Not now\") or require."
  type        = string
  default     = "off"
  validation {
    condition     = contains(["off", "suggest", "require"], var.suggest)
    error_message = "suggest must be off, suggest or require."
  }
}

variable "suggest_interval" {
  description = "Seconds before a user who answered \"Not now\" is offered the link again (LINKER_SUGGEST_INTERVAL)."
  type        = number
  default     = 604800
}

variable "post_login_actions_after" {
  description = "Other post-login Actions, in order; they run after linker's. This module owns the post-login binding, so list every Action that should stay bound."
  type = list(object({
    id           = string
    display_name = string
  }))
  default = []
}
