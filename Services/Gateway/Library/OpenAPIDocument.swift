import CoffreCore
import Hummingbird

/// The OpenAPI 3.1 document of the public API, served at `/openapi.json`
/// (and `/openapi.yaml`: JSON is valid YAML 1.2, so the same text serves
/// both). `OpenAPIDocumentTests` fails when its (method, path) pairs differ
/// from `PublicRoutes.all`; a service that adds public routes adds them to
/// both. Services still behind `PublicRoutes.undeclaredPrefixes` are not in
/// it yet.
public enum OpenAPIDocument {
    public static let json: String = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Coffre public API",
    "version": "1.0.0",
    "description": "Zero-knowledge storage: everything the server stores about content is ciphertext or a public key. Errors are RFC 9457 application/problem+json. Binary values are base64url without padding."
  },
  "servers": [
    {
      "url": "/"
    }
  ],
  "tags": [
    {
      "name": "auth"
    },
    {
      "name": "account"
    },
    {
      "name": "sessions"
    },
    {
      "name": "admin"
    },
    {
      "name": "operations"
    }
  ],
  "paths": {
    "/healthz": {
      "get": {
        "operationId": "healthz",
        "summary": "Liveness",
        "tags": [
          "operations"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "Alive.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          }
        }
      }
    },
    "/readyz": {
      "get": {
        "operationId": "readyz",
        "summary": "Readiness: every upstream answers, token keys loaded, revocations in sync",
        "tags": [
          "operations"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "Ready.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics",
        "tags": [
          "operations"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "Metrics in the Prometheus text format.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    },
    "/openapi.json": {
      "get": {
        "operationId": "openapiJSON",
        "summary": "This document",
        "tags": [
          "operations"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "OpenAPI 3.1 document.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        }
      }
    },
    "/openapi.yaml": {
      "get": {
        "operationId": "openapiYAML",
        "summary": "This document as YAML",
        "tags": [
          "operations"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "OpenAPI 3.1 document (JSON is valid YAML 1.2).",
            "content": {
              "application/yaml": {
                "schema": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    },
    "/v1/admin/tenants": {
      "post": {
        "operationId": "createTenant",
        "summary": "Create a tenant",
        "tags": [
          "admin"
        ],
        "security": [
          {
            "adminToken": []
          }
        ],
        "responses": {
          "201": {
            "description": "Created.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Tenant"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/TenantCreate"
              }
            }
          }
        }
      },
      "get": {
        "operationId": "listTenants",
        "summary": "List tenants",
        "tags": [
          "admin"
        ],
        "security": [
          {
            "adminToken": []
          }
        ],
        "responses": {
          "200": {
            "description": "Every tenant.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/TenantList"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/accounts": {
      "post": {
        "operationId": "signup",
        "summary": "Sign up (zero-knowledge: only a login secret and encrypted bundle are sent)",
        "tags": [
          "account"
        ],
        "security": [],
        "parameters": [
          {
            "$ref": "#/components/parameters/Tenant"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/SignupRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Account created.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/SignupResponse"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "429": {
            "$ref": "#/components/responses/RateLimited"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          }
        }
      }
    },
    "/v1/auth/prelogin": {
      "post": {
        "operationId": "prelogin",
        "summary": "Salt and KDF parameters for an email",
        "tags": [
          "auth"
        ],
        "security": [],
        "parameters": [
          {
            "$ref": "#/components/parameters/Tenant"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/PreloginRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Parameters.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PreloginResponse"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "429": {
            "$ref": "#/components/responses/RateLimited"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/auth/login": {
      "post": {
        "operationId": "login",
        "summary": "Log in with the derived login secret",
        "tags": [
          "auth"
        ],
        "security": [],
        "parameters": [
          {
            "$ref": "#/components/parameters/Tenant"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/LoginRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Logged in.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/LoginResponse"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "429": {
            "$ref": "#/components/responses/RateLimited"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/auth/refresh": {
      "post": {
        "operationId": "refresh",
        "summary": "Rotate the refresh token, get a new access token",
        "tags": [
          "auth"
        ],
        "security": [],
        "parameters": [
          {
            "$ref": "#/components/parameters/Tenant"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/RefreshRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Refreshed.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RefreshResponse"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "429": {
            "$ref": "#/components/responses/RateLimited"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/auth/recovery/bundle": {
      "post": {
        "operationId": "recoveryBundle",
        "summary": "Fetch the key bundle with the recovery secret",
        "tags": [
          "auth"
        ],
        "security": [],
        "parameters": [
          {
            "$ref": "#/components/parameters/Tenant"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/RecoveryBundleRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The encrypted bundle.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RecoveryBundleResponse"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "429": {
            "$ref": "#/components/responses/RateLimited"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/auth/recovery/reset": {
      "post": {
        "operationId": "recoveryReset",
        "summary": "Set a new password after recovery; revokes every session",
        "tags": [
          "auth"
        ],
        "security": [],
        "parameters": [
          {
            "$ref": "#/components/parameters/Tenant"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/RecoveryResetRequest"
              }
            }
          }
        },
        "responses": {
          "204": {
            "description": "Done."
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "429": {
            "$ref": "#/components/responses/RateLimited"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/v1/auth/logout": {
      "post": {
        "operationId": "logout",
        "summary": "Revoke the current session",
        "tags": [
          "auth"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "204": {
            "description": "Done."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/accounts/me": {
      "get": {
        "operationId": "me",
        "summary": "The calling account",
        "tags": [
          "account"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "The account.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Me"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      },
      "delete": {
        "operationId": "deleteAccount",
        "summary": "Delete the account; revokes every session",
        "tags": [
          "account"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "204": {
            "description": "Done."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/DeleteAccountRequest"
              }
            }
          }
        }
      }
    },
    "/v1/accounts/me/totp": {
      "post": {
        "operationId": "enrolTotp",
        "summary": "Start TOTP enrolment",
        "tags": [
          "account"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "Pending secret.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/TotpEnrolment"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/accounts/me/totp/confirm": {
      "post": {
        "operationId": "confirmTotp",
        "summary": "Confirm TOTP enrolment",
        "tags": [
          "account"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "204": {
            "description": "Done."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/TotpConfirm"
              }
            }
          }
        }
      }
    },
    "/v1/accounts/me/password": {
      "post": {
        "operationId": "changePassword",
        "summary": "Swap verifier and bundle; revokes other sessions",
        "tags": [
          "account"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "204": {
            "description": "Done."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/PasswordChange"
              }
            }
          }
        }
      }
    },
    "/v1/sessions": {
      "get": {
        "operationId": "listSessions",
        "summary": "Active sessions of the account",
        "tags": [
          "sessions"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "Sessions.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/SessionList"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/sessions/{id}": {
      "delete": {
        "operationId": "revokeSession",
        "summary": "Revoke one session",
        "tags": [
          "sessions"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "204": {
            "description": "Done."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        },
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ]
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "coffre-access-v1 (Ed25519-signed, 300 s)"
      },
      "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "COFFRE_ADMIN_TOKEN; checked by accounts, passed through by the gateway."
      }
    },
    "parameters": {
      "Tenant": {
        "name": "X-Coffre-Tenant",
        "in": "header",
        "required": false,
        "description": "Tenant slug for unauthenticated calls; else the host name's first label, else `default`.",
        "schema": {
          "type": "string",
          "pattern": "^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$"
        }
      }
    },
    "schemas": {
      "Problem": {
        "type": "object",
        "properties": {
          "type": {
            "type": "string",
            "description": "URI naming the kind of problem, e.g. urn:coffre:problem:email-taken."
          },
          "title": {
            "type": "string"
          },
          "status": {
            "type": "integer"
          },
          "detail": {
            "type": "string"
          },
          "instance": {
            "type": "string"
          },
          "request_id": {
            "type": "string"
          }
        },
        "additionalProperties": true,
        "required": [
          "type",
          "title",
          "status"
        ],
        "description": "RFC 9457 problem details."
      },
      "KDF": {
        "type": "object",
        "properties": {
          "algorithm": {
            "type": "string",
            "enum": [
              "argon2id13"
            ]
          },
          "opslimit": {
            "type": "integer",
            "minimum": 1
          },
          "memlimit": {
            "type": "integer",
            "minimum": 8192
          }
        },
        "additionalProperties": false,
        "required": [
          "algorithm",
          "opslimit",
          "memlimit"
        ],
        "description": "Client-side Argon2id parameters (crypto_pwhash)."
      },
      "PublicKeys": {
        "type": "object",
        "properties": {
          "x25519": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "X25519 public key for receiving shares (base64url, no padding)."
          },
          "ed25519": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "Ed25519 public signing key (base64url, no padding)."
          },
          "self_signature": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "Ed25519 signature by ed25519 over `coffre-keys-v1\\n<x25519>\\n<ed25519>` (base64url, no padding)."
          }
        },
        "additionalProperties": false,
        "required": [
          "x25519",
          "ed25519",
          "self_signature"
        ]
      },
      "KeyBundle": {
        "type": "object",
        "additionalProperties": true,
        "description": "Opaque JSON object of client-encrypted keys (at most 16 KiB); the server cannot open it."
      },
      "TenantRateLimits": {
        "type": "object",
        "properties": {
          "signup_per_minute": {
            "type": "integer",
            "minimum": 1
          },
          "login_per_minute": {
            "type": "integer",
            "minimum": 1
          }
        },
        "additionalProperties": false
      },
      "TenantCreate": {
        "type": "object",
        "properties": {
          "slug": {
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$"
          },
          "display_name": {
            "type": "string"
          },
          "storage_limit_bytes": {
            "type": "integer",
            "minimum": 0
          },
          "transfer_allowance_bytes": {
            "type": "integer",
            "minimum": 0
          },
          "rate_limits": {
            "$ref": "#/components/schemas/TenantRateLimits"
          }
        },
        "additionalProperties": false,
        "required": [
          "slug",
          "display_name"
        ]
      },
      "Tenant": {
        "type": "object",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "slug": {
            "type": "string"
          },
          "display_name": {
            "type": "string"
          },
          "storage_limit_bytes": {
            "type": "integer"
          },
          "transfer_allowance_bytes": {
            "type": "integer"
          },
          "rate_limits": {
            "$ref": "#/components/schemas/TenantRateLimits"
          },
          "created_at": {
            "type": "string",
            "format": "date-time"
          }
        },
        "additionalProperties": true,
        "required": [
          "id",
          "slug",
          "display_name",
          "storage_limit_bytes",
          "transfer_allowance_bytes",
          "rate_limits",
          "created_at"
        ]
      },
      "TenantList": {
        "type": "object",
        "properties": {
          "tenants": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Tenant"
            }
          }
        },
        "additionalProperties": false,
        "required": [
          "tenants"
        ]
      },
      "PreloginRequest": {
        "type": "object",
        "properties": {
          "email": {
            "type": "string",
            "format": "email"
          }
        },
        "additionalProperties": false,
        "required": [
          "email"
        ]
      },
      "PreloginResponse": {
        "type": "object",
        "properties": {
          "salt": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "16-byte Argon2id salt (base64url, no padding)."
          },
          "kdf": {
            "$ref": "#/components/schemas/KDF"
          }
        },
        "additionalProperties": false,
        "required": [
          "salt",
          "kdf"
        ],
        "description": "Same shape and status for unknown emails (deterministic fake salt)."
      },
      "SignupRequest": {
        "type": "object",
        "properties": {
          "email": {
            "type": "string",
            "format": "email"
          },
          "salt": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "16-byte Argon2id salt (base64url, no padding)."
          },
          "kdf": {
            "$ref": "#/components/schemas/KDF"
          },
          "login_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "32-byte login secret derived on the client (base64url, no padding)."
          },
          "recovery_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "32-byte recovery login secret (base64url, no padding)."
          },
          "public_keys": {
            "$ref": "#/components/schemas/PublicKeys"
          },
          "key_bundle": {
            "$ref": "#/components/schemas/KeyBundle"
          }
        },
        "additionalProperties": false,
        "required": [
          "email",
          "salt",
          "kdf",
          "login_secret",
          "recovery_secret",
          "public_keys",
          "key_bundle"
        ]
      },
      "SignupResponse": {
        "type": "object",
        "properties": {
          "account_id": {
            "type": "string",
            "format": "uuid"
          },
          "tenant_id": {
            "type": "string",
            "format": "uuid"
          }
        },
        "additionalProperties": false,
        "required": [
          "account_id",
          "tenant_id"
        ]
      },
      "LoginRequest": {
        "type": "object",
        "properties": {
          "email": {
            "type": "string",
            "format": "email"
          },
          "login_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "32-byte login secret (base64url, no padding)."
          },
          "totp_code": {
            "type": "string",
            "pattern": "^[0-9]{6}$"
          },
          "device_name": {
            "type": "string",
            "maxLength": 100
          }
        },
        "additionalProperties": false,
        "required": [
          "email",
          "login_secret"
        ]
      },
      "LoginResponse": {
        "type": "object",
        "properties": {
          "access_token": {
            "type": "string"
          },
          "refresh_token": {
            "type": "string"
          },
          "expires_in": {
            "type": "integer",
            "description": "Access token lifetime in seconds (300)."
          },
          "account_id": {
            "type": "string",
            "format": "uuid"
          },
          "tenant_id": {
            "type": "string",
            "format": "uuid"
          },
          "session_id": {
            "type": "string",
            "format": "uuid"
          },
          "key_bundle": {
            "$ref": "#/components/schemas/KeyBundle"
          }
        },
        "additionalProperties": false,
        "required": [
          "access_token",
          "refresh_token",
          "expires_in",
          "account_id",
          "tenant_id",
          "session_id",
          "key_bundle"
        ]
      },
      "RefreshRequest": {
        "type": "object",
        "properties": {
          "refresh_token": {
            "type": "string"
          }
        },
        "additionalProperties": false,
        "required": [
          "refresh_token"
        ]
      },
      "RefreshResponse": {
        "type": "object",
        "properties": {
          "access_token": {
            "type": "string"
          },
          "refresh_token": {
            "type": "string"
          },
          "expires_in": {
            "type": "integer"
          },
          "account_id": {
            "type": "string",
            "format": "uuid"
          },
          "tenant_id": {
            "type": "string",
            "format": "uuid"
          },
          "session_id": {
            "type": "string",
            "format": "uuid"
          }
        },
        "additionalProperties": false,
        "required": [
          "access_token",
          "refresh_token",
          "expires_in",
          "account_id",
          "tenant_id",
          "session_id"
        ]
      },
      "Me": {
        "type": "object",
        "properties": {
          "account_id": {
            "type": "string",
            "format": "uuid"
          },
          "tenant_id": {
            "type": "string",
            "format": "uuid"
          },
          "email": {
            "type": "string",
            "format": "email"
          },
          "created_at": {
            "type": "string",
            "format": "date-time"
          },
          "totp_enabled": {
            "type": "boolean"
          },
          "public_keys": {
            "$ref": "#/components/schemas/PublicKeys"
          }
        },
        "additionalProperties": false,
        "required": [
          "account_id",
          "tenant_id",
          "email",
          "created_at",
          "totp_enabled",
          "public_keys"
        ]
      },
      "Session": {
        "type": "object",
        "properties": {
          "session_id": {
            "type": "string",
            "format": "uuid"
          },
          "device_name": {
            "type": [
              "string",
              "null"
            ]
          },
          "created_at": {
            "type": "string",
            "format": "date-time"
          },
          "last_used_at": {
            "type": "string",
            "format": "date-time"
          },
          "current": {
            "type": "boolean"
          }
        },
        "additionalProperties": false,
        "required": [
          "session_id",
          "device_name",
          "created_at",
          "last_used_at",
          "current"
        ]
      },
      "SessionList": {
        "type": "object",
        "properties": {
          "sessions": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Session"
            }
          }
        },
        "additionalProperties": false,
        "required": [
          "sessions"
        ]
      },
      "TotpEnrolment": {
        "type": "object",
        "properties": {
          "secret": {
            "type": "string",
            "description": "Base32 TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s)."
          },
          "otpauth_uri": {
            "type": "string"
          }
        },
        "additionalProperties": false,
        "required": [
          "secret",
          "otpauth_uri"
        ]
      },
      "TotpConfirm": {
        "type": "object",
        "properties": {
          "code": {
            "type": "string",
            "pattern": "^[0-9]{6}$"
          }
        },
        "additionalProperties": false,
        "required": [
          "code"
        ]
      },
      "PasswordChange": {
        "type": "object",
        "properties": {
          "current_login_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "current login secret (base64url, no padding)."
          },
          "salt": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "new salt (base64url, no padding)."
          },
          "kdf": {
            "$ref": "#/components/schemas/KDF"
          },
          "login_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "new login secret (base64url, no padding)."
          },
          "key_bundle": {
            "$ref": "#/components/schemas/KeyBundle"
          }
        },
        "additionalProperties": false,
        "required": [
          "current_login_secret",
          "salt",
          "kdf",
          "login_secret",
          "key_bundle"
        ]
      },
      "RecoveryBundleRequest": {
        "type": "object",
        "properties": {
          "email": {
            "type": "string",
            "format": "email"
          },
          "recovery_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "recovery login secret (base64url, no padding)."
          }
        },
        "additionalProperties": false,
        "required": [
          "email",
          "recovery_secret"
        ]
      },
      "RecoveryBundleResponse": {
        "type": "object",
        "properties": {
          "key_bundle": {
            "$ref": "#/components/schemas/KeyBundle"
          }
        },
        "additionalProperties": false,
        "required": [
          "key_bundle"
        ]
      },
      "RecoveryResetRequest": {
        "type": "object",
        "properties": {
          "email": {
            "type": "string",
            "format": "email"
          },
          "recovery_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "recovery login secret (base64url, no padding)."
          },
          "salt": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "new salt (base64url, no padding)."
          },
          "kdf": {
            "$ref": "#/components/schemas/KDF"
          },
          "login_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "new login secret (base64url, no padding)."
          },
          "key_bundle": {
            "$ref": "#/components/schemas/KeyBundle"
          }
        },
        "additionalProperties": false,
        "required": [
          "email",
          "recovery_secret",
          "salt",
          "kdf",
          "login_secret",
          "key_bundle"
        ]
      },
      "DeleteAccountRequest": {
        "type": "object",
        "properties": {
          "login_secret": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "login secret (base64url, no padding)."
          }
        },
        "additionalProperties": false,
        "required": [
          "login_secret"
        ]
      },
      "Health": {
        "type": "object",
        "properties": {
          "status": {
            "type": "string"
          }
        },
        "additionalProperties": false,
        "required": [
          "status"
        ]
      }
    },
    "responses": {
      "BadRequest": {
        "description": "Malformed JSON, missing or invalid fields, or a bad tenant slug.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "Missing, malformed, forged, expired or revoked credentials.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "WWW-Authenticate": {
            "description": "`Bearer realm=\"coffre\"` (with `error=\"invalid_token\"` when a token was sent).",
            "schema": {
              "type": "string"
            }
          }
        }
      },
      "NotFound": {
        "description": "No such resource.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Conflict": {
        "description": "Conflicts with existing state.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "TooLarge": {
        "description": "Body larger than the gateway's limit for JSON routes.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "RateLimited": {
        "description": "Per-client-address or per-tenant rate limit exceeded.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Retry-After": {
            "description": "Seconds until a request may succeed.",
            "schema": {
              "type": "integer"
            }
          },
          "RateLimit": {
            "description": "`limit=<burst>, remaining=<n>, reset=<seconds>` (draft-ietf-httpapi-ratelimit-headers).",
            "schema": {
              "type": "string"
            }
          },
          "RateLimit-Policy": {
            "description": "`<per minute>;w=60;burst=<burst>`.",
            "schema": {
              "type": "string"
            }
          }
        }
      },
      "Unavailable": {
        "description": "Overloaded (load shedding) or upstream not reachable; retry later.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {
              "type": "integer"
            }
          }
        }
      }
    }
  }
}
"""#

    static func addRoutes(to router: Router<CoffreRequestContext>) {
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=300"],
                     body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml", .cacheControl: "public, max-age=300"],
                     body: .init(byteBuffer: ByteBuffer(string: json)))
        }
    }
}
