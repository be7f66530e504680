@security
Feature: The HTTP edge of every service decides on the route it matches
  Each server checks credentials and limits on the route its router matches, not on the raw request target, so
  another spelling of a protected path (letter case, %-escapes, doubled slashes, an absolute-form request line)
  still needs its credential. Bodies are read only after the credential check, only as JSON, only up to the
  route's limit; slow, oversized and surplus connections are cut off.

  Scenario Outline: The worker API needs its token for <method> <target>
    When "<method> <target>" is sent to the worker API without a token, with a job body for job "<job>"
    Then the answer is 401 with a Bearer challenge
    And the worker API never ran job "<job>"

    Examples:
      | method | target                                          | job         |
      | POST   | /v1/worker/jobs:run                             | sec-plain   |
      | POST   | /V1/WORKER/JOBS:RUN                             | sec-upper   |
      | POST   | /v1/worker/job%73:run                           | sec-escape  |
      | POST   | /v1/%77orker/jobs:run                           | sec-escape2 |
      | POST   | //v1//worker///jobs:run                         | sec-slashes |
      | POST   | http://evil.example/v1/worker/jobs:run          | sec-absform |
      | GET    | /V1/Worker/Jobs/sec-status                      | sec-status  |
      | POST   | http://evil.example//V1/worker/jobs/sec-c/cancel | sec-c      |

  Scenario Outline: The user gateway needs a bearer token for <method> <target>
    When "<method> <target>" is sent to the user gateway without a token
    Then the answer is 401 with a Bearer challenge

    Examples:
      | method | target                          |
      | GET    | /V1/USERS/ME                    |
      | GET    | /v1/users/%6De                  |
      | GET    | //v1//users/me                  |
      | GET    | http://evil.example/v1/users/me |
      | POST   | /V1/Tasks                       |
      | POST   | http://evil.example//v1/TASKS   |

  Scenario Outline: The control plane needs a node or operator token for <method> <target>
    When "<method> <target>" is sent to the control plane without a token
    Then the answer is 401 with a Bearer challenge

    Examples:
      | method | target                                    |
      | GET    | /V1/NODES/CONFIG                          |
      | GET    | /v1/nodes/%63onfig                        |
      | POST   | //v1//nodes/capability                    |
      | POST   | http://evil.example/v1/nodes/CONFIG       |
      | GET    | http://evil.example/V1/Nodes              |

  Scenario: An unauthenticated 8 MiB task is refused with 401, not read
    When an 8 MiB task body is posted to the user gateway without a token
    Then the answer is 401 with a Bearer challenge

  Scenario Outline: A login body over 64 KiB is refused with 413 however the route is spelt (<target>)
    When a 100 KiB login body is posted to the user gateway at "<target>"
    Then the answer is 413 with problem type "urn:cynodeai:error:payload_too_large"

    Examples:
      | target                               |
      | /v1/auth/login                       |
      | /V1/AUTH/LOGIN                       |
      | //v1/auth//login                     |
      | http://evil.example/v1/auth/%6Cogin  |

  Scenario Outline: The control plane answers a <content_type> body to <target> with 415 at once
    Given a node has registered with the control plane
    When the node posts a "<content_type>" body to the control plane at "<target>"
    Then the answer is 415 with problem type "urn:cynodeai:error:unsupported_media_type"

    Examples:
      | content_type                      | target               |
      | multipart/form-data; boundary=xyz | /v1/nodes/capability |
      | multipart/form-data; boundary=xyz | /v1/nodes/config     |
      | multipart/form-data; boundary=xyz | /v1/nodes/register   |
      | application/x-www-form-urlencoded | /v1/nodes/capability |
      | text/plain                        | /v1/nodes/config     |

  Scenario: A body sent one byte at a time is cut off at READ_TIMEOUT
    When a client sends the control plane a 100-byte body one byte every 500 ms
    Then the control plane answers 408 and closes the connection before the body is complete

  Scenario: Connections beyond MAX_CONNECTIONS are closed at once
    When a client holds MAX_CONNECTIONS open connections to the control plane
    Then one more connection is closed without an answer
    And once those connections close, the control plane answers "/healthz" again

  Scenario: A request head over MAX_HEADER_BYTES is refused with 431
    When a request with an 8 KiB header is sent to the control plane
    Then the answer is 431

  Scenario: A prompt holding a lone UTF-16 surrogate is refused with 400, not 500
    When the admin creates a task whose prompt holds a lone surrogate escape
    Then the answer is 400 with problem type "urn:cynodeai:error:validation"

  Scenario: Forty wrong passwords sent at once get at most the lockout threshold of 401s, the rest 429
    When 40 wrong passwords for a new user "target" are sent to the gateway at once
    Then at most the lockout threshold of them are answered 401 and all others 429

  Scenario: A forged X-Forwarded-For entry does not change the client address behind a trusted proxy
    When a client behind the trusted proxy sends 5 wrong logins, each forging a new leftmost X-Forwarded-For entry
    Then the first failures up to the address threshold get 401 and the rest 429
    And the audit log names the proxy's hop "203.0.113.7" as the client, never a forged entry

  @gateway
  Scenario: Two refreshes of one session at once both get the same new token pair
    Given a gateway user "twice" with password "twice-secret-1"
    And "twice" is logged in to the gateway
    When "twice" refreshes the gateway session twice at once
    Then both refreshes answer 200 with the same new token pair, whose access token works
