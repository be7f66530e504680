@node_manager
Feature: Node startup: register, fetch config, start the worker API and inference, acknowledge
  The real node-manager program starts against the real control plane (its own PostgreSQL database) and the real
  container engine. The control plane's public URL is a recording proxy, so the suite sees which URLs the node
  uses after registration. Assertions read the control plane's records and the engine's container list.

  Scenario: The full happy path, in order, with a private inference container
    Given a control plane for node startup serving the inference stand-in
    When node manager "nm-happy" starts
    Then the worker API of "nm-happy" becomes ready within 60 seconds
    And the control plane recorded for "nm-happy", in order: registration, config issued, inference container started, ack applied, capability report
    And after registration "nm-happy" used only the URLs of its bootstrap payload
    And exactly one inference container of "nm-happy" runs, published only on 127.0.0.1 at the configured inference port
    And the worker API of "nm-happy" accepts the delivered token and rejects a wrong or missing one
    And the control plane's readiness is "ready"
    And the startup of "nm-happy" is logged with a duration for every step
    When node manager "nm-happy" receives SIGTERM
    Then node manager "nm-happy" exits with code 0
    And the inference container of "nm-happy" is stopped but kept
    And no container of "nm-happy" is left running

  Scenario Outline: An inference image that cannot start ends in a failed ack and exit code 5
    Given a control plane for node startup serving the inference image "<image>"
    When node manager "nm-broken" starts
    Then node manager "nm-broken" exits with code 5 within 60 seconds, naming the step "start inference"
    And the control plane recorded a failed ack "inference_start_failed" for "nm-broken"
    And node "nm-broken" is not dispatchable
    And the control plane's readiness is not ready, naming "nm-broken" and "inference_start_failed"
    And no container of "nm-broken" is left running

    Examples:
      | image                                    |
      | localhost/cynode-no-such-image:latest    |
      | localhost/cynode-sandbox:latest          |

  Scenario: An expired node JWT leads to re-registration and the node carries on
    Given a control plane for node startup serving the inference stand-in, with node JWTs valid for 3 seconds
    When node manager "nm-expiry" starts, reporting capabilities every second
    Then the worker API of "nm-expiry" becomes ready within 60 seconds
    And "nm-expiry" registers again at least 2 times within 20 seconds
    And capability reports of "nm-expiry" keep arriving after its first JWT expired
    When node manager "nm-expiry" receives SIGTERM
    Then node manager "nm-expiry" exits with code 0
    And no container of "nm-expiry" is left running

  Scenario: A node JWT refused with 401 leads to re-registration and the report goes through
    Given a control plane for node startup serving the inference stand-in
    When node manager "nm-revoked" starts, reporting capabilities every second
    Then the worker API of "nm-revoked" becomes ready within 60 seconds
    When the control plane revokes the node JWT of "nm-revoked" by a registration of the same slug
    Then "nm-revoked" registers again within 10 seconds after its report was refused with 401
    And capability reports of "nm-revoked" keep arriving
    When node manager "nm-revoked" receives SIGTERM
    Then node manager "nm-revoked" exits with code 0
    And no container of "nm-revoked" is left running
