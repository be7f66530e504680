@control_plane
Feature: Control plane startup and readiness
  The control plane stays up while it is not ready: /healthz answers as soon as it serves, and /readyz only
  once some node is dispatchable and an inference path (its latest ack applied the config issued to it).

  Scenario: Without nodes the control plane is alive but not ready
    Given a running control plane
    Then /healthz answers 200 "ok"
    And /readyz answers 503 "no inference path: no node registered"
    And the control plane has created the bootstrap admin with an Argon2id password

  Scenario: Readiness follows the node's config ack
    Given a running control plane
    And node "node-01" has registered
    And node "node-01" has fetched its config
    Then /readyz answers 503 mentioning "node-01 has not acknowledged config"
    When node "node-01" acks its config as failed with "inference_start_failed" "ollama not healthy after 120s"
    Then /readyz answers 503 "no inference path: node-01 config ack failed: inference_start_failed: ollama not healthy after 120s"
    When node "node-01" acks its config as applied
    Then /readyz answers 200 "ready"

  Scenario: A missing secret stops the start with a readable error
    When the control plane starts without NODE_REGISTRATION_PSK
    Then it exits with a non-zero code
    And its output says "required variable NODE_REGISTRATION_PSK is not set"

  Scenario: A short JWT secret stops the start with a readable error
    When the control plane starts with a JWT_SECRET of 10 bytes
    Then it exits with a non-zero code
    And its output says "JWT_SECRET must be at least 32 bytes long"

  Scenario: --migrate-only migrates an empty database and exits
    When the control plane runs with --migrate-only against an empty database
    Then it exits with code 0
    And that database has the nodes, node_capabilities and node_config_acks tables
