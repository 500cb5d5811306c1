"""The Postmark connector's node and edge kinds and token scopes, named once.

Every kind of its own carries the `postmark:` namespace (docs/plugins.md); `person`,
`endpoint` and the `is` edge are the host's shared kinds.
"""

ACCOUNT = "postmark:account"
ACCOUNT_TOKEN = "postmark:account_token"
SERVER = "postmark:server"
SERVER_TOKEN = "postmark:server_token"
STREAM = "postmark:message_stream"
WEBHOOK = "postmark:webhook"
SENDER = "postmark:sender_signature"
DOMAIN = "postmark:domain"
TEAM_MEMBER = "postmark:team_member"
SENDING_SCOPE = "postmark:sending_scope"
PERSON = "person"
ENDPOINT = "endpoint"

HAS_SERVER = "postmark:has_server"
HAS_CREDENTIAL = "postmark:has_credential"
GRANTS = "postmark:grants"
HAS_STREAM = "postmark:has_stream"
HAS_WEBHOOK = "postmark:has_webhook"
DELIVERS_TO = "postmark:delivers_to"
HAS_SENDER = "postmark:has_sender"
HAS_DOMAIN = "postmark:has_domain"
BELONGS_TO = "postmark:belongs_to"
HAS_SENDING_SCOPE = "postmark:has_sending_scope"
INCLUDES = "postmark:includes"
CAN_SEND_AS = "postmark:can_send_as"
MEMBER_OF = "postmark:member_of"
CAN_ACCESS = "postmark:can_access"
IS = "is"  # the host's shared kind

ACCOUNT_TOKEN_SCOPE = "account API: servers, sender signatures and domains (read and write)"
SERVER_TOKEN_SCOPE = "server API: send email, message streams, webhooks, templates"
