import CoffreCore
import Hummingbird

/// The OpenAPI 3.1 document of the public API, served at `/openapi.json`
/// (and `/openapi.yaml`: JSON is valid YAML 1.2, so the same text serves
/// both). `OpenAPIDocumentTests` fails when its (method, path) pairs differ
/// from `PublicRoutes.all`; a service that adds public routes adds them to
/// both.
public enum OpenAPIDocument {
    public static let json: String = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Coffre public API",
    "version": "1.0.0",
    "description": "Zero-knowledge storage: everything the server stores about content is ciphertext or a public key. Errors are RFC 9457 application/problem+json. Binary values are base64url without padding, except the file tree's `attributes` and `wrapped_key`, which are standard base64 (as in tus `Upload-Metadata`). Uploads follow tus 1.0.0 (creation, creation-with-upload, termination, checksum, expiration)."
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
    },
    {
      "name": "uploads",
      "description": "tus 1.0.0 resumable uploads of ciphertext. Every request but OPTIONS sends `Tus-Resumable: 1.0.0`; every answer carries it."
    },
    {
      "name": "nodes",
      "description": "The file tree (encrypted names and keys), the trash, versions and downloads."
    },
    {
      "name": "quota",
      "description": "Storage and transfer usage of the calling account (docs/quota-api.md). Byte counts are of ciphertext."
    },
    {
      "name": "log",
      "description": "The key transparency log: public, so anyone can audit it (docs/keydir-api.md)."
    },
    {
      "name": "keys",
      "description": "Accounts' public keys, each with an inclusion proof in the log."
    },
    {
      "name": "shares",
      "description": "Node keys sealed from one account to another; the server carries them opaque."
    },
    {
      "name": "links",
      "description": "Share links: the file key lives only in the URL fragment."
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
    "/v1/admin/tenants/{slug}": {
      "patch": {
        "operationId": "updateTenant",
        "summary": "Change a tenant's sharing policy (emits tenant.updated)",
        "tags": [
          "admin"
        ],
        "security": [
          {
            "adminToken": []
          }
        ],
        "parameters": [
          {
            "name": "slug",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/TenantUpdate"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The tenant as changed.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Tenant"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    },
    "/v1/uploads": {
      "options": {
        "operationId": "tusOptions",
        "summary": "tus discovery: versions, extensions, checksum algorithms, size limit",
        "tags": [
          "uploads"
        ],
        "security": [
          {},
          {
            "bearerAuth": []
          }
        ],
        "description": "Works without a token (a bad token is still a 401); with one, `Tus-Max-Size` is the calling account's limit. A browser's CORS preflight (with `Access-Control-Request-Method`) is answered by the gateway and never reaches this operation.",
        "responses": {
          "204": {
            "description": "What the server supports.",
            "headers": {
              "Tus-Resumable": {
                "$ref": "#/components/headers/TusResumable"
              },
              "Tus-Version": {
                "$ref": "#/components/headers/TusVersion"
              },
              "Tus-Extension": {
                "$ref": "#/components/headers/TusExtension"
              },
              "Tus-Checksum-Algorithm": {
                "$ref": "#/components/headers/TusChecksumAlgorithm"
              },
              "Tus-Max-Size": {
                "$ref": "#/components/headers/TusMaxSize"
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
      "post": {
        "operationId": "createUpload",
        "summary": "Create an upload (tus creation, optionally with its first bytes)",
        "tags": [
          "uploads"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "404: the `node` or `parent` of the metadata is not the caller's; 409: `node` is a folder or `parent` a file.",
        "parameters": [
          {
            "$ref": "#/components/parameters/TusResumable"
          },
          {
            "$ref": "#/components/parameters/UploadLength"
          },
          {
            "$ref": "#/components/parameters/UploadMetadata"
          },
          {
            "$ref": "#/components/parameters/UploadChecksum"
          }
        ],
        "requestBody": {
          "required": false,
          "description": "creation-with-upload: the first bytes, streamed with no size limit. `Coffre-Version-Id` is set when they complete the upload.",
          "content": {
            "application/offset+octet-stream": {
              "schema": {
                "type": "string",
                "contentMediaType": "application/octet-stream"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Created; quota for the whole `Upload-Length` is reserved.",
            "headers": {
              "Tus-Resumable": {
                "$ref": "#/components/headers/TusResumable"
              },
              "Location": {
                "$ref": "#/components/headers/UploadLocation"
              },
              "Upload-Offset": {
                "$ref": "#/components/headers/UploadOffset"
              },
              "Upload-Expires": {
                "$ref": "#/components/headers/UploadExpires"
              },
              "Coffre-Node-Id": {
                "$ref": "#/components/headers/CoffreNodeId"
              },
              "Coffre-Version-Id": {
                "$ref": "#/components/headers/CoffreVersionId"
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/UploadBadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "412": {
            "$ref": "#/components/responses/TusVersionMismatch"
          },
          "413": {
            "$ref": "#/components/responses/UploadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedUploadType"
          },
          "460": {
            "$ref": "#/components/responses/ChecksumMismatch"
          },
          "507": {
            "$ref": "#/components/responses/QuotaExceeded"
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
    "/v1/uploads/{id}": {
      "head": {
        "operationId": "uploadOffset",
        "summary": "Where an upload stands (resume from `Upload-Offset`)",
        "tags": [
          "uploads"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "Answers to HEAD carry no body, errors included: read the status and headers.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The upload id (from `Location`).",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "$ref": "#/components/parameters/TusResumable"
          }
        ],
        "responses": {
          "200": {
            "description": "No body. `Upload-Expires` while unfinished; `Coffre-Version-Id` once complete.",
            "headers": {
              "Tus-Resumable": {
                "$ref": "#/components/headers/TusResumable"
              },
              "Upload-Offset": {
                "$ref": "#/components/headers/UploadOffset"
              },
              "Upload-Length": {
                "$ref": "#/components/headers/UploadLength"
              },
              "Upload-Expires": {
                "$ref": "#/components/headers/UploadExpires"
              },
              "Cache-Control": {
                "$ref": "#/components/headers/CacheControl"
              },
              "Coffre-Node-Id": {
                "$ref": "#/components/headers/CoffreNodeId"
              },
              "Coffre-Version-Id": {
                "$ref": "#/components/headers/CoffreVersionId"
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/UploadBadRequest"
          },
          "404": {
            "$ref": "#/components/responses/UploadNotFound"
          },
          "410": {
            "$ref": "#/components/responses/UploadExpired"
          },
          "412": {
            "$ref": "#/components/responses/TusVersionMismatch"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      },
      "patch": {
        "operationId": "uploadBytes",
        "summary": "Append bytes at `Upload-Offset`",
        "tags": [
          "uploads"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The upload id (from `Location`).",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "$ref": "#/components/parameters/TusResumable"
          },
          {
            "$ref": "#/components/parameters/UploadOffset"
          },
          {
            "$ref": "#/components/parameters/UploadChecksum"
          }
        ],
        "requestBody": {
          "required": true,
          "description": "Ciphertext bytes from `Upload-Offset` on, streamed through the gateway with no size limit. If the connection drops, what arrived intact is kept (unless `Upload-Checksum` was sent); HEAD says where to resume.",
          "content": {
            "application/offset+octet-stream": {
              "schema": {
                "type": "string",
                "contentMediaType": "application/octet-stream"
              }
            }
          }
        },
        "responses": {
          "204": {
            "description": "Bytes durable up to `Upload-Offset`. On the last byte the upload commits and `Coffre-Node-Id` and `Coffre-Version-Id` are set (and `Upload-Expires` is not).",
            "headers": {
              "Tus-Resumable": {
                "$ref": "#/components/headers/TusResumable"
              },
              "Upload-Offset": {
                "$ref": "#/components/headers/UploadOffset"
              },
              "Upload-Expires": {
                "$ref": "#/components/headers/UploadExpires"
              },
              "Coffre-Node-Id": {
                "$ref": "#/components/headers/CoffreNodeId"
              },
              "Coffre-Version-Id": {
                "$ref": "#/components/headers/CoffreVersionId"
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/UploadBadRequest"
          },
          "403": {
            "$ref": "#/components/responses/UploadComplete"
          },
          "404": {
            "$ref": "#/components/responses/UploadNotFound"
          },
          "409": {
            "$ref": "#/components/responses/OffsetMismatch"
          },
          "410": {
            "$ref": "#/components/responses/UploadExpired"
          },
          "412": {
            "$ref": "#/components/responses/TusVersionMismatch"
          },
          "413": {
            "$ref": "#/components/responses/UploadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedUploadType"
          },
          "423": {
            "$ref": "#/components/responses/UploadBusy"
          },
          "460": {
            "$ref": "#/components/responses/ChecksumMismatch"
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
        "operationId": "terminateUpload",
        "summary": "Abandon an upload (tus termination)",
        "tags": [
          "uploads"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The upload id (from `Location`).",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "$ref": "#/components/parameters/TusResumable"
          }
        ],
        "responses": {
          "204": {
            "description": "Gone; its bytes and quota reservation are released.",
            "headers": {
              "Tus-Resumable": {
                "$ref": "#/components/headers/TusResumable"
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/UploadBadRequest"
          },
          "403": {
            "$ref": "#/components/responses/UploadComplete"
          },
          "404": {
            "$ref": "#/components/responses/UploadNotFound"
          },
          "412": {
            "$ref": "#/components/responses/TusVersionMismatch"
          },
          "423": {
            "$ref": "#/components/responses/UploadBusy"
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
    "/v1/nodes": {
      "post": {
        "operationId": "createFolder",
        "summary": "Create a folder (files are created by uploads)",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "404: no such parent; 409: the id exists, or the parent is a file.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateFolderRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "The folder.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Node"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      },
      "get": {
        "operationId": "listNodes",
        "summary": "A folder's children that are not in the trash",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "parent",
            "in": "query",
            "required": false,
            "description": "Folder id; absent or `root` = the account's root.",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The children.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/NodeList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/trash": {
      "get": {
        "operationId": "listTrash",
        "summary": "Nodes trashed directly (not those trashed with an ancestor)",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "The trash.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/NodeList"
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
    "/v1/nodes/{id}": {
      "get": {
        "operationId": "getNode",
        "summary": "One node",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The node.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Node"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      },
      "patch": {
        "operationId": "updateNode",
        "summary": "Move and/or rename",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "409: moving a folder into itself or a descendant, or under a file.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/UpdateNodeRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The node after the change.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Node"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "413": {
            "$ref": "#/components/responses/TooLarge"
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
        "operationId": "deleteNode",
        "summary": "Move to the trash, or purge",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "name": "purge",
            "in": "query",
            "required": false,
            "description": "`true` removes the node for good instead of trashing it.",
            "schema": {
              "type": "boolean",
              "default": false
            }
          }
        ],
        "responses": {
          "200": {
            "description": "Trashed (with its subtree).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Node"
                }
              }
            }
          },
          "204": {
            "description": "Purged (`purge=true`): the node, its subtree and every version's blob."
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/nodes/{id}/restore": {
      "post": {
        "operationId": "restoreNode",
        "summary": "Out of the trash, back where it was (or to the root)",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "409: the node is not in the trash.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The restored node.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Node"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
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
    "/v1/nodes/{id}/versions": {
      "get": {
        "operationId": "listVersions",
        "summary": "A file's versions, newest first",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The versions.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/VersionList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/nodes/{id}/versions/{version}/restore": {
      "post": {
        "operationId": "restoreVersion",
        "summary": "Make a version current (the current one is kept)",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "name": "version",
            "in": "path",
            "required": true,
            "description": "The version id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The node.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Node"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/nodes/{id}/versions/{version}": {
      "delete": {
        "operationId": "deleteVersion",
        "summary": "Purge a version that is not current",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "409: the version is the current one.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "name": "version",
            "in": "path",
            "required": true,
            "description": "The version id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "204": {
            "description": "Purged."
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
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
    "/v1/nodes/{id}/content": {
      "get": {
        "operationId": "download",
        "summary": "A file's ciphertext, whole or a range",
        "tags": [
          "nodes"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "Allowed for the owner and for holders of a grant on the node or an ancestor (shares). Streamed through the gateway; served bytes count against the account's transfer.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The node id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "name": "version",
            "in": "query",
            "required": false,
            "description": "A version id; absent = the current version.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "$ref": "#/components/parameters/Range"
          },
          {
            "$ref": "#/components/parameters/IfNoneMatch"
          }
        ],
        "responses": {
          "200": {
            "description": "The whole ciphertext.",
            "headers": {
              "ETag": {
                "$ref": "#/components/headers/ETag"
              },
              "Accept-Ranges": {
                "$ref": "#/components/headers/AcceptRanges"
              },
              "Content-Length": {
                "$ref": "#/components/headers/ContentLength"
              },
              "Cache-Control": {
                "$ref": "#/components/headers/CacheControl"
              }
            },
            "content": {
              "application/octet-stream": {
                "schema": {
                  "type": "string",
                  "contentMediaType": "application/octet-stream"
                }
              }
            }
          },
          "206": {
            "description": "The requested range.",
            "headers": {
              "ETag": {
                "$ref": "#/components/headers/ETag"
              },
              "Accept-Ranges": {
                "$ref": "#/components/headers/AcceptRanges"
              },
              "Content-Range": {
                "$ref": "#/components/headers/ContentRange"
              },
              "Content-Length": {
                "$ref": "#/components/headers/ContentLength"
              },
              "Cache-Control": {
                "$ref": "#/components/headers/CacheControl"
              }
            },
            "content": {
              "application/octet-stream": {
                "schema": {
                  "type": "string",
                  "contentMediaType": "application/octet-stream"
                }
              }
            }
          },
          "304": {
            "description": "`If-None-Match` matched: the version is unchanged. No body.",
            "headers": {
              "ETag": {
                "$ref": "#/components/headers/ETag"
              },
              "Cache-Control": {
                "$ref": "#/components/headers/CacheControl"
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "416": {
            "$ref": "#/components/responses/RangeNotSatisfiable"
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
    "/v1/quota": {
      "get": {
        "operationId": "myQuota",
        "summary": "The calling account's storage and transfer usage",
        "tags": [
          "quota"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "Usage, reservations and limits.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/QuotaView"
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
    "/v1/admin/quota/tenants": {
      "get": {
        "operationId": "listQuotaTenants",
        "summary": "Per-tenant quota totals",
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
            "description": "Every tenant quota knows.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/QuotaTenantList"
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
    "/v1/admin/quota/tenants/{tenant}": {
      "get": {
        "operationId": "quotaTenant",
        "summary": "One tenant's quota totals",
        "tags": [
          "admin"
        ],
        "security": [
          {
            "adminToken": []
          }
        ],
        "parameters": [
          {
            "name": "tenant",
            "in": "path",
            "required": true,
            "description": "Tenant id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The tenant's plan and totals.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/QuotaTenantTotals"
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
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      }
    },
    "/v1/admin/quota/tenants/{tenant}/accounts/{account}": {
      "get": {
        "operationId": "quotaAccount",
        "summary": "One account's usage (as GET /v1/quota)",
        "tags": [
          "admin"
        ],
        "security": [
          {
            "adminToken": []
          }
        ],
        "parameters": [
          {
            "name": "tenant",
            "in": "path",
            "required": true,
            "description": "Tenant id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "name": "account",
            "in": "path",
            "required": true,
            "description": "Account id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The account's usage and limits.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/QuotaView"
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
          }
        }
      },
      "put": {
        "operationId": "setQuotaOverride",
        "summary": "Set (or clear) an account's storage and transfer overrides",
        "tags": [
          "admin"
        ],
        "security": [
          {
            "adminToken": []
          }
        ],
        "parameters": [
          {
            "name": "tenant",
            "in": "path",
            "required": true,
            "description": "Tenant id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "name": "account",
            "in": "path",
            "required": true,
            "description": "Account id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The account's usage under the new limits.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/QuotaView"
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
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/QuotaOverride"
              }
            }
          }
        }
      }
    },
    "/v1/admin/quota/reconcile": {
      "post": {
        "operationId": "reconcileQuota",
        "summary": "Compare every ledger with blob ingest's stored versions (optionally repair)",
        "description": "Run when the ledger consumer has caught up: an event still in flight shows as drift, and repairing then would count it twice. 503 when quota has no `QUOTA_INGEST_URL`.",
        "tags": [
          "admin"
        ],
        "security": [
          {
            "adminToken": []
          }
        ],
        "parameters": [
          {
            "name": "repair",
            "in": "query",
            "required": false,
            "description": "`true` sets each drifting ledger's `used` to ingest's figure.",
            "schema": {
              "type": "boolean",
              "default": false
            }
          },
          {
            "name": "tenant",
            "in": "query",
            "required": false,
            "description": "Reconcile this tenant only (default: every tenant quota knows).",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The report (drift is listed, not an error).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ReconciliationReport"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
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
    "/v1/log/checkpoint": {
      "get": {
        "operationId": "logCheckpoint",
        "summary": "The newest signed checkpoint",
        "tags": [
          "log"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "The C2SP tlog-checkpoint signed note: origin, tree size, base64 root hash, a `time <unix seconds>` extension line, then the log key's signature.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
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
    "/v1/log/key": {
      "get": {
        "operationId": "logKey",
        "summary": "The log's verifier key (clients pin it)",
        "tags": [
          "log"
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "The origin and the signed-note verifier key.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/LogKey"
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
    "/v1/log/proof/inclusion": {
      "get": {
        "operationId": "logInclusionProof",
        "summary": "Inclusion proof of entry `index` in the tree of size `size`",
        "tags": [
          "log"
        ],
        "security": [],
        "parameters": [
          {
            "name": "index",
            "in": "query",
            "required": true,
            "description": "Leaf index.",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          },
          {
            "name": "size",
            "in": "query",
            "required": true,
            "description": "Tree size (index < size <= the newest checkpoint's size).",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The RFC 6962 audit path.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/InclusionProof"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/log/proof/consistency": {
      "get": {
        "operationId": "logConsistencyProof",
        "summary": "Consistency proof between two tree sizes",
        "tags": [
          "log"
        ],
        "security": [],
        "parameters": [
          {
            "name": "from",
            "in": "query",
            "required": true,
            "description": "Older tree size.",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          },
          {
            "name": "to",
            "in": "query",
            "required": true,
            "description": "Newer tree size (from <= to <= the newest checkpoint's size).",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The RFC 6962 consistency proof.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ConsistencyProof"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/log/entries/{index}": {
      "get": {
        "operationId": "logEntry",
        "summary": "One log entry's exact bytes",
        "tags": [
          "log"
        ],
        "security": [],
        "parameters": [
          {
            "name": "index",
            "in": "path",
            "required": true,
            "description": "Leaf index.",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The entry.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/LogEntry"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      }
    },
    "/v1/keys": {
      "post": {
        "operationId": "publishKeys",
        "summary": "Publish, rotate or revoke the caller's own keys",
        "tags": [
          "keys"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "Versions only go up, one by one. `rotate` carries the previous Ed25519 key's signature over the transition; a client `revoke` too. Bad signatures, malformed keys and a version going backwards are 4xx and nothing is logged.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/PublishKeysRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Sequenced into the log: the new entry with its inclusion proof.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KeyLookup"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
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
    "/v1/keys/accounts/{account}": {
      "get": {
        "operationId": "accountKeys",
        "summary": "An account's latest keys with an inclusion proof",
        "tags": [
          "keys"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "account",
            "in": "path",
            "required": true,
            "description": "The account id (same tenant as the caller).",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The latest entry, proven against the newest checkpoint.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KeyLookup"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/keys/accounts/{account}/history": {
      "get": {
        "operationId": "accountKeyHistory",
        "summary": "Every key entry of an account, oldest first",
        "tags": [
          "keys"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "account",
            "in": "path",
            "required": true,
            "description": "The account id (same tenant as the caller).",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The entries and the checkpoint they were read against.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KeyHistory"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/keys/lookup": {
      "get": {
        "operationId": "lookupKeys",
        "summary": "The latest keys of the account with this email in the caller's tenant (or in another tenant, when both allow cross-tenant shares)",
        "tags": [
          "keys"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "email",
            "in": "query",
            "required": true,
            "description": "The account's email.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "tenant",
            "in": "query",
            "required": false,
            "description": "Another tenant's slug: look the email up there. Both tenants must allow cross-tenant shares: 403 `urn:coffre:problem:cross-tenant-shares-disabled` when the caller's does not, 404 when the other one does not (or does not exist).",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "As for an account id.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KeyLookup"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      }
    },
    "/v1/shares": {
      "post": {
        "operationId": "createShare",
        "summary": "Share a file or a folder's subtree with another account",
        "tags": [
          "shares"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "description": "One parcel per node (the node, and for a folder every descendant not in the trash), each sealing that node's key to the recipient's current X25519 key and signed with the owner's current Ed25519 key. Checked: the recipient is an account of the caller's tenant with live keys (404 otherwise, 409 when revoked), every parcel names the caller, the recipient and its current X25519 key (409 `stale-recipient-key`), every signature verifies (400 `bad-signature`), the node is the caller's (404) and the parcels cover exactly its subtree (409 `parcel-nodes`). Nothing is stored unless all pass. Shares stay inside a tenant. A second share of the same node to the same recipient replaces the parcels of the first.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateShareRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Stored; `coffre.share.created` gives the recipient read access in blob ingest.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Share"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
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
    "/v1/shares/incoming": {
      "get": {
        "operationId": "incomingShares",
        "summary": "Shares given to the caller",
        "tags": [
          "shares"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "Oldest first.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ShareList"
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
    "/v1/shares/outgoing": {
      "get": {
        "operationId": "outgoingShares",
        "summary": "Shares the caller gave",
        "tags": [
          "shares"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "Oldest first.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ShareList"
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
    "/v1/shares/{id}/accept": {
      "post": {
        "operationId": "acceptShare",
        "summary": "Accept a share (recipient)",
        "tags": [
          "shares"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The share id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The share, with `accepted_at`.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Share"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/shares/{id}": {
      "get": {
        "operationId": "getShare",
        "summary": "One share (its owner or its recipient)",
        "tags": [
          "shares"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The share id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The share.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Share"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
        "operationId": "deleteShare",
        "summary": "Revoke (owner) or decline (recipient) a share",
        "tags": [
          "shares"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The share id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "204": {
            "description": "Gone; `coffre.share.revoked` withdraws the recipient's read access."
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/links": {
      "post": {
        "operationId": "createLink",
        "summary": "Make a share link to one of the caller's files",
        "tags": [
          "links"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateLinkRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "The link. Its URL is `<base>/l/<id>#<fragment>`; the fragment (the file key, or it wrapped under a password) never reaches the server.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Link"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/Conflict"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      },
      "get": {
        "operationId": "listLinks",
        "summary": "The caller's links (revoked ones too)",
        "tags": [
          "links"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "Oldest first.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/LinkList"
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
    "/v1/links/{id}": {
      "get": {
        "operationId": "linkInfo",
        "summary": "A link's file: size, encrypted attributes, what is left",
        "tags": [
          "links"
        ],
        "security": [],
        "description": "Public, no token. Served by blob ingest, which asks the key directory about the link.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The link id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The link can be used.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/LinkInfo"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "410": {
            "$ref": "#/components/responses/Gone"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
      },
      "delete": {
        "operationId": "revokeLink",
        "summary": "Revoke a link (owner)",
        "tags": [
          "links"
        ],
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The link id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "204": {
            "description": "Revoked; later downloads answer 410."
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
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
    "/v1/links/{id}/content": {
      "get": {
        "operationId": "linkDownload",
        "summary": "Download a link's file (anonymous)",
        "tags": [
          "links"
        ],
        "security": [],
        "description": "Public, no token. Claims one download in the key directory (one conditional UPDATE: a link limited to N downloads serves exactly N, however many arrive at once), then streams the file. The bytes count against the owner's transfer allowance (429 with Retry-After while it is used up, checked before a download is claimed) and the client address's allowance.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The link id.",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The whole ciphertext of the file's current version. Each request is one download (no ranges).",
            "headers": {
              "Content-Length": {
                "$ref": "#/components/headers/ContentLength"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              },
              "Cache-Control": {
                "$ref": "#/components/headers/CacheControl"
              }
            },
            "content": {
              "application/octet-stream": {
                "schema": {
                  "type": "string",
                  "contentMediaType": "application/octet-stream"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "410": {
            "$ref": "#/components/responses/Gone"
          },
          "429": {
            "$ref": "#/components/responses/TransferQuota"
          },
          "503": {
            "$ref": "#/components/responses/Unavailable"
          }
        }
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
        "description": "COFFRE_ADMIN_TOKEN; checked by the service (accounts, quota), passed through by the gateway."
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
      },
      "TusResumable": {
        "name": "Tus-Resumable",
        "in": "header",
        "required": true,
        "description": "`1.0.0`; without it (or with another version) the answer is 412.",
        "schema": {
          "type": "string",
          "const": "1.0.0"
        }
      },
      "UploadLength": {
        "name": "Upload-Length",
        "in": "header",
        "required": true,
        "description": "Total ciphertext bytes; at most `Tus-Max-Size` (else 413). Deferred length is not offered.",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "UploadMetadata": {
        "name": "Upload-Metadata",
        "in": "header",
        "required": false,
        "description": "Comma-separated `key base64value` pairs; keys `node` (the file's id, client-chosen; an existing file of the caller gets a new version), `parent` (folder id; absent = root), `attributes` (encrypted attributes) and `key` (wrapped node key), the last two required for a new file. Any other key is a 400.",
        "schema": {
          "type": "string"
        }
      },
      "UploadOffset": {
        "name": "Upload-Offset",
        "in": "header",
        "required": true,
        "description": "Where this body starts: must equal the upload's offset (else 409).",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "UploadChecksum": {
        "name": "Upload-Checksum",
        "in": "header",
        "required": false,
        "description": "`sha1 <base64>` or `sha256 <base64>` of this request's body: on a mismatch (460), or if the body breaks off, none of it is kept.",
        "schema": {
          "type": "string",
          "pattern": "^(sha1|sha256) [A-Za-z0-9+/=]+$"
        }
      },
      "Range": {
        "name": "Range",
        "in": "header",
        "required": false,
        "description": "One range, `bytes=<first>-<last>`, `bytes=<first>-` or `bytes=-<suffix length>`; several ranges are answered with the whole file (200).",
        "schema": {
          "type": "string"
        }
      },
      "IfNoneMatch": {
        "name": "If-None-Match",
        "in": "header",
        "required": false,
        "description": "An ETag from an earlier download (or `*`): 304 if the version is still the one served.",
        "schema": {
          "type": "string"
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
        "description": "The tenant's own limits at the gateway, in place of its defaults (GATEWAY_RATE_PER_TENANT_*) when set. N a minute: N requests back to back, then one every 60/N s; 0 closes those routes (429). Changes apply within about 10 s.",
        "properties": {
          "signup_per_minute": {
            "type": "integer",
            "minimum": 0,
            "description": "POST /v1/accounts."
          },
          "login_per_minute": {
            "type": "integer",
            "minimum": 0,
            "description": "POST /v1/auth/prelogin, /v1/auth/login, /v1/auth/refresh, /v1/auth/recovery/bundle and /v1/auth/recovery/reset, together."
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
          },
          "cross_tenant_shares": {
            "type": "boolean",
            "default": false,
            "description": "Allow shares with accounts of other tenants that allow them too."
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
          },
          "cross_tenant_shares": {
            "type": "boolean",
            "description": "Its accounts may share with (and receive shares from) accounts of other tenants that allow it too."
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
          "created_at",
          "cross_tenant_shares"
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
      },
      "Node": {
        "type": "object",
        "description": "A file or folder. `attributes` (encrypted name and metadata) and `wrapped_key` (the node key wrapped under the owner's master key) are the client's ciphertext; the server never reads them.",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "parent_id": {
            "type": [
              "string",
              "null"
            ],
            "format": "uuid",
            "description": "null = the account's root."
          },
          "kind": {
            "type": "string",
            "enum": [
              "file",
              "folder"
            ]
          },
          "attributes": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "Encrypted attributes (standard base64)."
          },
          "wrapped_key": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "Wrapped node key (standard base64)."
          },
          "size": {
            "type": "integer",
            "minimum": 0,
            "description": "Ciphertext bytes of the current version (0 for folders)."
          },
          "current_version": {
            "type": [
              "string",
              "null"
            ],
            "format": "uuid",
            "description": "null for folders."
          },
          "created_at": {
            "type": "string",
            "format": "date-time"
          },
          "updated_at": {
            "type": "string",
            "format": "date-time"
          },
          "trashed_at": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          }
        },
        "additionalProperties": false,
        "required": [
          "id",
          "parent_id",
          "kind",
          "attributes",
          "wrapped_key",
          "size",
          "current_version",
          "created_at",
          "updated_at",
          "trashed_at"
        ]
      },
      "NodeList": {
        "type": "object",
        "properties": {
          "nodes": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Node"
            }
          }
        },
        "additionalProperties": false,
        "required": [
          "nodes"
        ]
      },
      "Version": {
        "type": "object",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "size": {
            "type": "integer",
            "minimum": 0
          },
          "created_at": {
            "type": "string",
            "format": "date-time"
          },
          "current": {
            "type": "boolean"
          }
        },
        "additionalProperties": false,
        "required": [
          "id",
          "size",
          "created_at",
          "current"
        ]
      },
      "VersionList": {
        "type": "object",
        "properties": {
          "versions": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Version"
            },
            "description": "Newest first."
          }
        },
        "additionalProperties": false,
        "required": [
          "versions"
        ]
      },
      "CreateFolderRequest": {
        "type": "object",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid",
            "description": "Client-chosen (the key wrap and attributes are bound to it); absent = the server picks one."
          },
          "parent_id": {
            "type": [
              "string",
              "null"
            ],
            "format": "uuid",
            "description": "absent or null = root."
          },
          "kind": {
            "type": "string",
            "const": "folder",
            "description": "Files are created by uploads."
          },
          "attributes": {
            "type": "string",
            "contentEncoding": "base64"
          },
          "wrapped_key": {
            "type": "string",
            "contentEncoding": "base64"
          }
        },
        "additionalProperties": false,
        "required": [
          "kind",
          "attributes",
          "wrapped_key"
        ]
      },
      "UpdateNodeRequest": {
        "type": "object",
        "description": "Move and/or rename. `parent_id` absent leaves the parent alone; null moves to the root.",
        "properties": {
          "parent_id": {
            "type": [
              "string",
              "null"
            ],
            "format": "uuid"
          },
          "attributes": {
            "type": "string",
            "contentEncoding": "base64"
          }
        },
        "additionalProperties": false
      },
      "QuotaTransfer": {
        "type": "object",
        "properties": {
          "used_bytes": {
            "type": "integer",
            "minimum": 0,
            "description": "Bytes served in the rolling window."
          },
          "allowance_bytes": {
            "type": "integer",
            "minimum": 0
          },
          "window_seconds": {
            "type": "integer",
            "minimum": 0
          },
          "window_reset": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time",
            "description": "When exhausted, when downloads are allowed again; otherwise when the window's usage next drops; null when nothing was served."
          },
          "exhausted": {
            "type": "boolean",
            "description": "Downloads get 429 with Retry-After until `window_reset`."
          }
        },
        "additionalProperties": false,
        "required": [
          "used_bytes",
          "allowance_bytes",
          "window_seconds",
          "window_reset",
          "exhausted"
        ]
      },
      "QuotaView": {
        "type": "object",
        "properties": {
          "tenant_id": {
            "type": "string",
            "format": "uuid"
          },
          "account_id": {
            "type": "string",
            "format": "uuid"
          },
          "used_bytes": {
            "type": "integer",
            "description": "Committed (stored) bytes."
          },
          "reserved_bytes": {
            "type": "integer",
            "minimum": 0,
            "description": "Held for uploads in progress."
          },
          "limit_bytes": {
            "type": "integer",
            "minimum": 0,
            "description": "The effective storage limit (plan or override)."
          },
          "available_bytes": {
            "type": "integer",
            "description": "`limit_bytes - used_bytes - reserved_bytes` (never below 0)."
          },
          "closed": {
            "type": "boolean",
            "description": "The account was deleted: no new reservations."
          },
          "storage_override": {
            "type": "boolean",
            "description": "`limit_bytes` is an operator override, not the plan."
          },
          "transfer": {
            "$ref": "#/components/schemas/QuotaTransfer"
          }
        },
        "additionalProperties": false,
        "required": [
          "tenant_id",
          "account_id",
          "used_bytes",
          "reserved_bytes",
          "limit_bytes",
          "available_bytes",
          "closed",
          "storage_override",
          "transfer"
        ]
      },
      "QuotaOverride": {
        "type": "object",
        "description": "Sets both overrides at once; a missing or null field clears that override.",
        "properties": {
          "storage_limit_bytes": {
            "type": [
              "integer",
              "null"
            ],
            "minimum": 0
          },
          "transfer_allowance_bytes": {
            "type": [
              "integer",
              "null"
            ],
            "minimum": 0
          }
        },
        "additionalProperties": false
      },
      "QuotaTenantTotals": {
        "type": "object",
        "properties": {
          "tenant_id": {
            "type": "string",
            "format": "uuid"
          },
          "plan_storage_limit_bytes": {
            "type": "integer",
            "minimum": 0
          },
          "plan_transfer_allowance_bytes": {
            "type": "integer",
            "minimum": 0
          },
          "plan_source": {
            "type": "string",
            "enum": [
              "event",
              "default",
              "migration"
            ],
            "description": "Where the plan came from: `tenant.created`, the service defaults, or a migration."
          },
          "accounts": {
            "type": "integer",
            "minimum": 0
          },
          "used_bytes": {
            "type": "integer",
            "minimum": 0
          },
          "reserved_bytes": {
            "type": "integer",
            "minimum": 0
          },
          "transfer_used_bytes": {
            "type": "integer",
            "minimum": 0
          }
        },
        "additionalProperties": false,
        "required": [
          "tenant_id",
          "plan_storage_limit_bytes",
          "plan_transfer_allowance_bytes",
          "plan_source",
          "accounts",
          "used_bytes",
          "reserved_bytes",
          "transfer_used_bytes"
        ]
      },
      "QuotaTenantList": {
        "type": "object",
        "properties": {
          "tenants": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/QuotaTenantTotals"
            }
          }
        },
        "additionalProperties": false,
        "required": [
          "tenants"
        ]
      },
      "QuotaDrift": {
        "type": "object",
        "properties": {
          "tenant_id": {
            "type": "string",
            "format": "uuid"
          },
          "account_id": {
            "type": "string",
            "format": "uuid"
          },
          "ledger_used_bytes": {
            "type": "integer"
          },
          "ingest_bytes": {
            "type": "integer"
          },
          "difference": {
            "type": "integer"
          }
        },
        "additionalProperties": false,
        "required": [
          "tenant_id",
          "account_id",
          "ledger_used_bytes",
          "ingest_bytes",
          "difference"
        ]
      },
      "ReconciliationReport": {
        "type": "object",
        "properties": {
          "tenants_checked": {
            "type": "integer",
            "minimum": 0
          },
          "accounts_checked": {
            "type": "integer",
            "minimum": 0
          },
          "drift": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/QuotaDrift"
            }
          },
          "repaired": {
            "type": "boolean"
          },
          "failed_tenants": {
            "type": "array",
            "items": {
              "type": "string",
              "format": "uuid"
            },
            "description": "Tenants whose usage could not be read from ingest."
          }
        },
        "additionalProperties": false,
        "required": [
          "tenants_checked",
          "accounts_checked",
          "drift",
          "repaired",
          "failed_tenants"
        ]
      },
      "QuotaExceededProblem": {
        "allOf": [
          {
            "$ref": "#/components/schemas/Problem"
          },
          {
            "type": "object",
            "properties": {
              "type": {
                "const": "urn:coffre:problem:quota-exceeded"
              },
              "remaining_bytes": {
                "type": "integer",
                "minimum": 0,
                "description": "What the account may still store."
              },
              "requested_bytes": {
                "type": "integer",
                "minimum": 0,
                "description": "The refused `Upload-Length` (when given)."
              }
            }
          }
        ]
      },
      "LogKey": {
        "type": "object",
        "description": "What a client pins to verify checkpoints.",
        "properties": {
          "origin": {
            "type": "string"
          },
          "verifier_key": {
            "type": "string",
            "description": "`<name>+<hex key id>+<base64(0x01‖Ed25519 public key)>`."
          }
        },
        "required": [
          "origin",
          "verifier_key"
        ]
      },
      "InclusionProof": {
        "type": "object",
        "description": "RFC 6962 inclusion proof.",
        "properties": {
          "index": {
            "type": "integer"
          },
          "size": {
            "type": "integer"
          },
          "proof": {
            "type": "array",
            "items": {
              "type": "string",
              "contentEncoding": "base64url"
            }
          }
        },
        "required": [
          "index",
          "size",
          "proof"
        ]
      },
      "ConsistencyProof": {
        "type": "object",
        "description": "RFC 6962 consistency proof.",
        "properties": {
          "from": {
            "type": "integer"
          },
          "to": {
            "type": "integer"
          },
          "proof": {
            "type": "array",
            "items": {
              "type": "string",
              "contentEncoding": "base64url"
            }
          }
        },
        "required": [
          "from",
          "to",
          "proof"
        ]
      },
      "LogEntry": {
        "type": "object",
        "description": "A leaf: the exact entry bytes (`coffre-key-entry-v1` text).",
        "properties": {
          "index": {
            "type": "integer"
          },
          "entry": {
            "type": "string",
            "contentEncoding": "base64url"
          }
        },
        "required": [
          "index",
          "entry"
        ]
      },
      "KeyLookup": {
        "type": "object",
        "description": "An account's latest key entry, proven against `checkpoint`.",
        "properties": {
          "account_id": {
            "type": "string",
            "format": "uuid"
          },
          "version": {
            "type": "integer",
            "minimum": 1
          },
          "index": {
            "type": "integer",
            "minimum": 0
          },
          "entry": {
            "type": "string",
            "contentEncoding": "base64url"
          },
          "checkpoint": {
            "type": "string",
            "description": "Signed note."
          },
          "inclusion_proof": {
            "type": "array",
            "items": {
              "type": "string",
              "contentEncoding": "base64url"
            }
          }
        },
        "required": [
          "account_id",
          "version",
          "index",
          "entry",
          "checkpoint",
          "inclusion_proof"
        ]
      },
      "KeyHistory": {
        "type": "object",
        "description": "Every entry of an account, oldest first.",
        "properties": {
          "entries": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/LogEntry"
            }
          },
          "checkpoint": {
            "type": "string"
          }
        },
        "required": [
          "entries",
          "checkpoint"
        ]
      },
      "PublishKeysRequest": {
        "type": "object",
        "description": "A publish, rotate or revoke of the caller's own keys.",
        "properties": {
          "action": {
            "type": "string",
            "enum": [
              "publish",
              "rotate",
              "revoke"
            ]
          },
          "version": {
            "type": "integer",
            "minimum": 1
          },
          "x25519": {
            "type": "string",
            "contentEncoding": "base64url"
          },
          "ed25519": {
            "type": "string",
            "contentEncoding": "base64url"
          },
          "self_signature": {
            "type": "string",
            "contentEncoding": "base64url"
          },
          "prev_signature": {
            "type": "string",
            "contentEncoding": "base64url"
          }
        },
        "required": [
          "action",
          "version"
        ]
      },
      "ShareParcel": {
        "type": "object",
        "description": "One node key sealed to the recipient (crypto_box_seal of version ‖ sender's Ed25519 key ‖ node key) and signed by the owner over every other field (Clients/Crypto/ShareParcel.swift). The server checks the addressing and the signature; it cannot open it.",
        "properties": {
          "version": {
            "type": "integer",
            "const": 1
          },
          "senderAccount": {
            "type": "string",
            "format": "uuid"
          },
          "recipientAccount": {
            "type": "string",
            "format": "uuid"
          },
          "nodeID": {
            "type": "string",
            "format": "uuid"
          },
          "recipientX25519": {
            "type": "string",
            "contentEncoding": "base64url"
          },
          "sealedKey": {
            "type": "string",
            "contentEncoding": "base64url"
          },
          "signature": {
            "type": "string",
            "contentEncoding": "base64url"
          }
        },
        "required": [
          "version",
          "senderAccount",
          "recipientAccount",
          "nodeID",
          "recipientX25519",
          "sealedKey",
          "signature"
        ]
      },
      "CreateShareRequest": {
        "type": "object",
        "description": "A share of one of the caller's nodes.",
        "properties": {
          "node_id": {
            "type": "string",
            "format": "uuid"
          },
          "recipient_account_id": {
            "type": "string",
            "format": "uuid"
          },
          "kind": {
            "type": "string",
            "enum": [
              "file",
              "folder"
            ]
          },
          "parcels": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10000,
            "items": {
              "$ref": "#/components/schemas/ShareParcel"
            }
          }
        },
        "required": [
          "node_id",
          "recipient_account_id",
          "kind",
          "parcels"
        ]
      },
      "Share": {
        "type": "object",
        "description": "A share as stored: the owner's parcels as sent.",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "owner_account_id": {
            "type": "string",
            "format": "uuid"
          },
          "owner_tenant_id": {
            "type": "string",
            "format": "uuid"
          },
          "recipient_account_id": {
            "type": "string",
            "format": "uuid"
          },
          "recipient_tenant_id": {
            "type": "string",
            "format": "uuid",
            "description": "The owner's tenant unless both tenants allow cross-tenant shares."
          },
          "node_id": {
            "type": "string",
            "format": "uuid"
          },
          "kind": {
            "type": "string",
            "enum": [
              "file",
              "folder"
            ]
          },
          "parcels": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/ShareParcel"
            }
          },
          "created_at": {
            "type": "string",
            "format": "date-time"
          },
          "accepted_at": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          }
        },
        "required": [
          "id",
          "owner_account_id",
          "recipient_account_id",
          "node_id",
          "kind",
          "parcels",
          "created_at",
          "owner_tenant_id",
          "recipient_tenant_id"
        ]
      },
      "ShareList": {
        "type": "object",
        "description": "Shares.",
        "properties": {
          "shares": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Share"
            }
          }
        },
        "required": [
          "shares"
        ]
      },
      "CreateLinkRequest": {
        "type": "object",
        "description": "A link to one of the caller's files.",
        "properties": {
          "node_id": {
            "type": "string",
            "format": "uuid"
          },
          "expires_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, in the future; absent = no expiry."
          },
          "max_downloads": {
            "type": "integer",
            "minimum": 1,
            "description": "Absent = no limit."
          }
        },
        "required": [
          "node_id"
        ]
      },
      "Link": {
        "type": "object",
        "description": "A share link as its owner sees it.",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "node_id": {
            "type": "string",
            "format": "uuid"
          },
          "expires_at": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          },
          "max_downloads": {
            "type": [
              "integer",
              "null"
            ],
            "minimum": 1
          },
          "downloads": {
            "type": "integer",
            "minimum": 0
          },
          "revoked_at": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          },
          "created_at": {
            "type": "string",
            "format": "date-time"
          }
        },
        "required": [
          "id",
          "node_id",
          "downloads",
          "created_at"
        ]
      },
      "LinkList": {
        "type": "object",
        "description": "Links.",
        "properties": {
          "links": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Link"
            }
          }
        },
        "required": [
          "links"
        ]
      },
      "LinkInfo": {
        "type": "object",
        "description": "What an anonymous holder of a link learns before downloading.",
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "node_id": {
            "type": "string",
            "format": "uuid"
          },
          "size": {
            "type": "integer",
            "minimum": 0,
            "description": "Ciphertext bytes."
          },
          "attributes": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "The file's encrypted attributes (standard base64); they open with the key in the link's fragment."
          },
          "expires_at": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          },
          "downloads_left": {
            "type": [
              "integer",
              "null"
            ],
            "minimum": 0,
            "description": "null = no limit."
          }
        },
        "required": [
          "id",
          "node_id",
          "size",
          "attributes"
        ]
      },
      "TenantUpdate": {
        "type": "object",
        "properties": {
          "cross_tenant_shares": {
            "type": "boolean",
            "description": "Allow shares with accounts of other tenants that allow them too. Applies to new shares; existing ones stay until revoked."
          }
        },
        "additionalProperties": false,
        "required": [
          "cross_tenant_shares"
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
      },
      "TusVersionMismatch": {
        "description": "`Tus-Resumable` missing or not `1.0.0`.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          },
          "Tus-Version": {
            "$ref": "#/components/headers/TusVersion"
          }
        }
      },
      "OffsetMismatch": {
        "description": "`Upload-Offset` is not the upload's offset; resume from the one returned (or from a HEAD).",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          },
          "Upload-Offset": {
            "$ref": "#/components/headers/UploadOffset"
          }
        }
      },
      "UnsupportedUploadType": {
        "description": "Upload bytes must be sent as `Content-Type: application/offset+octet-stream`.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "ChecksumMismatch": {
        "description": "The body does not match `Upload-Checksum` (tus 460 Checksum Mismatch); none of it was kept.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "UploadTooLarge": {
        "description": "`Upload-Length` over the account's `Tus-Max-Size`, or a body that goes past `Upload-Length`.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "UploadComplete": {
        "description": "The upload is complete: it takes no more bytes and cannot be terminated.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "UploadExpired": {
        "description": "The upload passed its `Upload-Expires` time and is (being) removed.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "UploadBusy": {
        "description": "Another request holds the upload's write lease (or this one lost it); retry shortly.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          },
          "Retry-After": {
            "$ref": "#/components/headers/RetryAfter"
          }
        }
      },
      "QuotaExceeded": {
        "description": "507 Insufficient Storage (`urn:coffre:problem:quota-exceeded`): the account's quota has no room for `Upload-Length` more bytes, or the account is closed (extension member `remaining_bytes`, and `requested_bytes` when given). Refused at creation, before any byte is stored; retry after freeing space.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/QuotaExceededProblem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "RangeNotSatisfiable": {
        "description": "The range starts past the end of the file.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Content-Range": {
            "$ref": "#/components/headers/ContentRange"
          }
        }
      },
      "UploadNotFound": {
        "description": "No such upload (or not the caller's).",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "UploadBadRequest": {
        "description": "Malformed upload id, tus header or metadata, or an unsupported checksum algorithm.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Tus-Resumable": {
            "$ref": "#/components/headers/TusResumable"
          }
        }
      },
      "Gone": {
        "description": "The link expired, was revoked or has no downloads left (or its file is gone).",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "TransferQuota": {
        "description": "The owner's transfer allowance for the rolling window is used up.",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        },
        "headers": {
          "Retry-After": {
            "$ref": "#/components/headers/RetryAfter"
          }
        }
      },
      "Forbidden": {
        "description": "Not allowed for the caller (the problem's type says why).",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      }
    },
    "headers": {
      "TusResumable": {
        "description": "The tus version of the answer: `1.0.0`.",
        "schema": {
          "type": "string",
          "const": "1.0.0"
        }
      },
      "TusVersion": {
        "description": "tus versions the server speaks: `1.0.0`.",
        "schema": {
          "type": "string"
        }
      },
      "TusExtension": {
        "description": "`creation,creation-with-upload,termination,checksum,expiration`.",
        "schema": {
          "type": "string"
        }
      },
      "TusChecksumAlgorithm": {
        "description": "`sha1,sha256`.",
        "schema": {
          "type": "string"
        }
      },
      "TusMaxSize": {
        "description": "Largest `Upload-Length` the calling account may declare (its plan); only with a token.",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "UploadOffset": {
        "description": "Bytes of the upload that are durable (a crash cannot lose them).",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "UploadLength": {
        "description": "The upload's declared total length.",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "UploadExpires": {
        "description": "When an unfinished upload is removed (RFC 9110 IMF-fixdate).",
        "schema": {
          "type": "string"
        }
      },
      "CoffreNodeId": {
        "description": "The file node the upload creates or adds a version to.",
        "schema": {
          "type": "string",
          "format": "uuid"
        }
      },
      "CoffreVersionId": {
        "description": "The version the upload became, once its last byte is durable.",
        "schema": {
          "type": "string",
          "format": "uuid"
        }
      },
      "UploadLocation": {
        "description": "`/v1/uploads/{id}`: where to send HEAD, PATCH and DELETE.",
        "schema": {
          "type": "string",
          "format": "uri-reference"
        }
      },
      "ETag": {
        "description": "The served version's id as a strong validator: `\"<version id>\"`.",
        "schema": {
          "type": "string"
        }
      },
      "AcceptRanges": {
        "description": "`bytes`.",
        "schema": {
          "type": "string"
        }
      },
      "ContentRange": {
        "description": "`bytes <first>-<last>/<size>` on 206, `bytes */<size>` on 416.",
        "schema": {
          "type": "string"
        }
      },
      "ContentLength": {
        "description": "Bytes in this response's body.",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "CacheControl": {
        "description": "`no-store` on upload state; `private, no-cache` on content.",
        "schema": {
          "type": "string"
        }
      },
      "RetryAfter": {
        "description": "Seconds to wait before retrying.",
        "schema": {
          "type": "integer"
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
