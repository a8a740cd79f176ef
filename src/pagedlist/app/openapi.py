"""The JSON API's OpenAPI 3.0 description, served at ``/openapi.json``.

Hand-written so it states exactly what the handlers in ``server.py`` accept and answer;
``tests/app/test_api_fuzz.py`` fuzzes the API against it with schemathesis.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_MAX_POS = 2**53 - 1


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json("Error")}


#: What an edit or a delete changes in an item.
_CHANGEABLE: dict[str, Any] = {
    "author": {"type": "string", "nullable": True, "description": "null once deleted."},
    "text": {"type": "string", "description": "Empty once deleted."},
    "edited": {
        "type": "number",
        "nullable": True,
        "description": "When its text last changed (epoch s); null: never edited.",
    },
    "deleted": {
        "type": "boolean",
        "description": "Deleted by its author; it stays only to keep its replies.",
    },
}

_ID_PARAM = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "description": "A post or comment id: 32 lowercase hex digits.",
    "schema": _ID,
}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": "How many items (default: the server's page size).",
    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
}
_NAME_PARAM = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "A username: 3 to 24 lowercase letters, digits or underscores.",
    "schema": {"type": "string", "pattern": "^[a-z0-9_]{3,24}$"},
}
_BEFORE = {
    "name": "before",
    "in": "query",
    "required": False,
    "description": "Only posts older than this position (next_before); past the end: the newest.",
    "schema": {"type": "integer", "minimum": 0, "maximum": _MAX_POS},
}
_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": False,
    "description": "The session's CSRF token (from GET /api/session); required to write.",
    "schema": {"type": "string"},
}
_TEXT_BODY = {
    "required": True,
    "content": _json("NewText"),
}
_WRITE_ERRORS = {
    "400": _err("Empty, oversized or malformed text or id, or a body that is not JSON."),
    "401": _err("Not signed in."),
    "403": _err("Missing or wrong X-CSRF-Token."),
    "409": _err("The id is already used by a different item."),
    "413": _err("The body is over 64 KiB."),
    "415": _err("The body is not application/json."),
    "429": _err("Too many writes by this account in the current window; see retry_after."),
}
_FOLLOW_ERRORS = {
    "400": _err("You cannot follow yourself."),
    "401": _err("Not signed in."),
    "403": _err("Missing or wrong X-CSRF-Token."),
    "404": _err("No such user."),
    "429": _err("Too many writes by this account in the current window; see retry_after."),
}
_CHANGE_ERRORS = {
    "401": _err("Not signed in."),
    "403": _err("Missing or wrong X-CSRF-Token, or the item is someone else's."),
    "404": _err("No such item, or it was deleted."),
    "409": _err(
        "This store keeps its lists in layout 1 (page rows), where items cannot be "
        "edited or deleted."
    ),
    "429": _err("Too many writes by this account in the current window; see retry_after."),
}
_CREDENTIALS_BODY = {"required": True, "content": _json("Credentials")}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "pagedlist feed",
        "version": "1.0.0",
        "description": (
            "Posts, comments and replies to any depth, stored as paged lists. Reads are "
            "public. Writes need a session cookie (from POST /api/users or /api/session) "
            "and its CSRF token in the X-CSRF-Token header."
        ),
    },
    "paths": {
        "/api/feed": {
            "get": {
                "operationId": "getFeed",
                "summary": "Posts, newest first, with cursor paging.",
                "parameters": [_BEFORE, _LIMIT],
                "responses": {
                    "200": {"description": "A page of posts.", "content": _json("FeedPage")},
                    "400": _err("A query parameter is not an integer in range."),
                },
            }
        },
        "/api/feed/count": {
            "get": {
                "operationId": "getFeedCount",
                "summary": "How many posts there are.",
                "responses": {"200": {"description": "The count.", "content": _json("Count")}},
            }
        },
        "/api/home": {
            "get": {
                "operationId": "getHome",
                "summary": "The signed-in user's home timeline: their posts and those of "
                "everyone they follow, newest first.",
                "parameters": [
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "description": "next_cursor of the previous page (opaque).",
                        "schema": {"type": "string"},
                    },
                    _LIMIT,
                ],
                "responses": {
                    "200": {"description": "A page of posts.", "content": _json("HomePage")},
                    "400": _err("A malformed cursor or limit."),
                    "401": _err("Not signed in."),
                },
            }
        },
        "/api/posts": {
            "post": {
                "operationId": "createPost",
                "summary": "Append a post to the feed.",
                "parameters": [_CSRF],
                "requestBody": _TEXT_BODY,
                "responses": {
                    "201": {"description": "The new post.", "content": _json("Item")},
                    **_WRITE_ERRORS,
                },
            }
        },
        "/api/items/{item_id}": {
            "get": {
                "operationId": "getItem",
                "summary": "One post or comment, with its reply count.",
                "parameters": [_ID_PARAM],
                "responses": {
                    "200": {"description": "The item.", "content": _json("ItemDetail")},
                    "404": _err("No such item."),
                },
            },
            "patch": {
                "operationId": "editItem",
                "summary": "Edit your post or comment: a new text, the item marked edited "
                "(a post is edited in its author's list too).",
                "parameters": [_ID_PARAM, _CSRF],
                "requestBody": {"required": True, "content": _json("EditText")},
                "responses": {
                    "200": {"description": "The item, edited.", "content": _json("Item")},
                    "400": _err("Empty, oversized or malformed text, or a body that is not JSON."),
                    "413": _err("The body is over 64 KiB."),
                    "415": _err("The body is not application/json."),
                    **_CHANGE_ERRORS,
                },
            },
            "delete": {
                "operationId": "deleteItem",
                "summary": "Delete your post or comment. One with replies stays, as "
                "deleted (no author, no text), and keeps its replies; a post goes from "
                "its author's list too.",
                "parameters": [_ID_PARAM, _CSRF],
                "responses": {"204": {"description": "Deleted."}, **_CHANGE_ERRORS},
            },
        },
        "/api/items/{item_id}/replies": {
            "get": {
                "operationId": "getReplies",
                "summary": "Direct replies to a post or comment, oldest first.",
                "parameters": [
                    _ID_PARAM,
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "Only replies after this position (next_after); -1 "
                        "or absent: from the first.",
                        "schema": {"type": "integer", "minimum": -1, "maximum": _MAX_POS},
                    },
                    _LIMIT,
                ],
                "responses": {
                    "200": {"description": "A page of replies.", "content": _json("ReplyPage")},
                    "400": _err("A query parameter is not an integer in range."),
                    "404": _err("No such item."),
                },
            },
            "post": {
                "operationId": "createReply",
                "summary": "Reply to a post (a comment) or to a comment.",
                "parameters": [_ID_PARAM, _CSRF],
                "requestBody": _TEXT_BODY,
                "responses": {
                    "201": {"description": "The new reply.", "content": _json("Item")},
                    "404": _err("No such item to reply to."),
                    **_WRITE_ERRORS,
                },
            },
        },
        "/api/session": {
            "get": {
                "operationId": "getSession",
                "summary": "Who is signed in, and the CSRF token for writes.",
                "responses": {"200": {"description": "The session.", "content": _json("Session")}},
            },
            "post": {
                "operationId": "signIn",
                "summary": "Sign in; sets the session cookie.",
                "requestBody": _CREDENTIALS_BODY,
                "responses": {
                    "200": {"description": "Signed in.", "content": _json("Session")},
                    "400": _err("The body is not a JSON object."),
                    "401": _err("Wrong username or password."),
                    "413": _err("The body is over 64 KiB."),
                    "415": _err("The body is not application/json."),
                },
            },
            "delete": {
                "operationId": "signOut",
                "summary": "Sign out: the session is deleted on the server.",
                "responses": {"204": {"description": "Signed out."}},
            },
        },
        "/api/users": {
            "post": {
                "operationId": "signUp",
                "summary": "Create an account and sign in.",
                "requestBody": _CREDENTIALS_BODY,
                "responses": {
                    "201": {"description": "Signed up and in.", "content": _json("Session")},
                    "400": _err(
                        "Invalid username or password (every problem in errors), or a "
                        "body that is not JSON."
                    ),
                    "409": _err("The username is taken (and nothing else is wrong)."),
                    "413": _err("The body is over 64 KiB."),
                    "415": _err("The body is not application/json."),
                },
            }
        },
        "/api/users/{name}": {
            "get": {
                "operationId": "getUser",
                "summary": "A user's post, follower and following counts.",
                "parameters": [_NAME_PARAM],
                "responses": {
                    "200": {"description": "The profile.", "content": _json("Profile")},
                    "404": _err("No such user."),
                },
            }
        },
        "/api/users/{name}/posts": {
            "get": {
                "operationId": "getUserPosts",
                "summary": "A user's posts, newest first, with cursor paging.",
                "parameters": [_NAME_PARAM, _BEFORE, _LIMIT],
                "responses": {
                    "200": {"description": "A page of posts.", "content": _json("FeedPage")},
                    "400": _err("A query parameter is not an integer in range."),
                    "404": _err("No such user."),
                },
            }
        },
        "/api/users/{name}/follow": {
            "post": {
                "operationId": "follow",
                "summary": "Follow a user (repeating is harmless).",
                "parameters": [_NAME_PARAM, _CSRF],
                "responses": {
                    "200": {"description": "Their profile now.", "content": _json("Profile")},
                    **_FOLLOW_ERRORS,
                    "409": _err("You follow the most people allowed already."),
                },
            },
            "delete": {
                "operationId": "unfollow",
                "summary": "Stop following a user (repeating is harmless).",
                "parameters": [_NAME_PARAM, _CSRF],
                "responses": {
                    "200": {"description": "Their profile now.", "content": _json("Profile")},
                    **_FOLLOW_ERRORS,
                },
            },
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Every problem found, when there can be several.",
                    },
                    "retry_after": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Seconds to wait before writing again (429).",
                    },
                },
            },
            "Profile": {
                "type": "object",
                "required": ["username", "posts", "followers", "following", "you_follow"],
                "properties": {
                    "username": {"type": "string"},
                    "posts": {"type": "integer", "minimum": 0},
                    "followers": {"type": "integer", "minimum": 0},
                    "following": {"type": "integer", "minimum": 0},
                    "you_follow": {
                        "type": "boolean",
                        "nullable": True,
                        "description": "Whether the signed-in user follows them (null: "
                        "signed out, or their own profile).",
                    },
                },
            },
            "HomePage": {
                "type": "object",
                "required": ["items", "next_cursor"],
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next_cursor": {"type": "string", "nullable": True},
                },
            },
            "Count": {
                "type": "object",
                "required": ["count"],
                "properties": {"count": {"type": "integer", "minimum": 0}},
            },
            "NewText": {
                "type": "object",
                "required": ["text"],
                "properties": {
                    "text": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 1000,
                        "description": "At most 1000 characters, not only whitespace.",
                    },
                    "id": {
                        **_ID,
                        "description": "Optional idempotency key: the same id and text post once.",
                    },
                },
            },
            "EditText": {
                "type": "object",
                "required": ["text"],
                "properties": {
                    "text": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 1000,
                        "description": "The new text: at most 1000 characters, not only "
                        "whitespace.",
                    },
                },
            },
            "Credentials": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "pattern": "^[a-z0-9_]{3,24}$"},
                    "password": {"type": "string", "minLength": 8, "maxLength": 256},
                },
            },
            "Session": {
                "type": "object",
                "required": ["username", "csrf"],
                "properties": {
                    "username": {"type": "string", "nullable": True},
                    "csrf": {"type": "string"},
                },
            },
            "Item": {
                "type": "object",
                "required": [
                    "id",
                    "position",
                    "ts",
                    "author",
                    "text",
                    "parent",
                    "post",
                    "depth",
                    "edited",
                    "deleted",
                    "replies",
                ],
                "properties": {
                    "id": _ID,
                    "position": {"type": "integer", "minimum": 0},
                    "ts": {"type": "number"},
                    **_CHANGEABLE,
                    "parent": {**_ID, "nullable": True},
                    "post": _ID,
                    "depth": {"type": "integer", "minimum": 0},
                    "replies": {"type": "integer", "minimum": 0},
                },
            },
            "ItemDetail": {
                "type": "object",
                "required": [
                    "id",
                    "author",
                    "text",
                    "parent",
                    "post",
                    "depth",
                    "ts",
                    "edited",
                    "deleted",
                    "replies",
                ],
                "properties": {
                    "id": _ID,
                    "ts": {"type": "number", "description": "When it was written (epoch s)."},
                    **_CHANGEABLE,
                    "parent": {**_ID, "nullable": True},
                    "post": _ID,
                    "depth": {"type": "integer", "minimum": 0},
                    "replies": {"type": "integer", "minimum": 0},
                },
            },
            "FeedPage": {
                "type": "object",
                "required": ["count", "items", "next_before"],
                "properties": {
                    "count": {"type": "integer", "minimum": 0},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next_before": {"type": "integer", "minimum": 0, "nullable": True},
                },
            },
            "ReplyPage": {
                "type": "object",
                "required": ["count", "items", "next_after"],
                "properties": {
                    "count": {"type": "integer", "minimum": 0},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next_after": {"type": "integer", "minimum": 0, "nullable": True},
                },
            },
        }
    },
}
