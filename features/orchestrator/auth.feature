@gateway
Feature: User gateway authentication
  Users log in with a handle and password and get a short-lived access token and a rotating refresh token.
  Every request re-checks the session behind the access token, so logout and reuse detection take effect at once.

  Background:
    Given the user gateway is running
    And a gateway user "alice" with password "alice-secret-1"

  Scenario: Login succeeds with the right password
    When "alice" logs in to the gateway with password "alice-secret-1"
    Then the gateway answers 200
    And the gateway answer is a Bearer token pair lasting 900 seconds
    And "alice" is the current gateway user

  Scenario: Login fails the same way for a wrong password and an unknown handle
    When "alice" logs in to the gateway with password "not-her-password"
    Then the gateway answers 401 with problem "authentication" and detail "Invalid credentials"
    When "nobody" logs in to the gateway with password "whatever"
    Then the gateway answers 401 with problem "authentication" and detail "Invalid credentials"
    And the gateway audit log records a "login_failure" for "nobody" with reason "unknown_handle"
    And the gateway audit log records a "login_failure" for "alice" with reason "bad_password"

  Scenario: Refresh rotates the token pair
    Given "alice" is logged in to the gateway
    When "alice" refreshes the gateway session
    Then the gateway answers 200
    And the refreshed gateway tokens of "alice" differ from the previous ones
    And the gateway access token of "alice" works
    And the previous gateway access token of "alice" still works

  Scenario: Reusing an old refresh token revokes the whole session family
    Given "alice" is logged in to the gateway
    When "alice" refreshes the gateway session
    And the gateway refresh grace window has passed
    And "alice" presents the previous gateway refresh token again
    Then the gateway answers 401
    And the gateway access token of "alice" is refused
    And the gateway refresh token of "alice" is refused
    And the gateway audit log records a "session_revoked" for "alice" with reason "refresh_token_reuse"

  Scenario: Logout makes the access token fail at once
    Given "alice" is logged in to the gateway
    When "alice" logs out of the gateway
    Then the gateway answers 204
    And the gateway access token of "alice" is refused
    And the gateway refresh token of "alice" is refused
    When "alice" logs out of the gateway
    Then the gateway answers 401

  Scenario: Lockout after repeated failures, and recovery after the lockout
    When "alice" fails to log in to the gateway 3 times
    And "alice" logs in to the gateway with password "alice-secret-1"
    Then the gateway answers 429 with problem "rate_limit" and a Retry-After header
    And the gateway audit log records a "login_failure" for "alice" with reason "locked_out"
    When the gateway lockout has passed
    And "alice" logs in to the gateway with password "alice-secret-1"
    Then the gateway answers 200

  Scenario: A disabled user cannot log in and loses their sessions
    Given "alice" is logged in to the gateway
    When the gateway admin disables "alice"
    Then the gateway access token of "alice" is refused
    When "alice" logs in to the gateway with password "alice-secret-1"
    Then the gateway answers 401 with problem "authentication" and detail "Invalid credentials"
    When the gateway admin enables "alice"
    And "alice" logs in to the gateway with password "alice-secret-1"
    Then the gateway answers 200
