@control_plane
Feature: Node registration, capability reports, config delivery and acknowledgement
  A worker node registers with the pre-shared key, receives a node JWT and the URLs to use, reports its
  capabilities, fetches its configuration and acknowledges it. The real control plane runs against a fresh
  PostgreSQL database; every step talks to it over HTTP or checks what it stored.

  Background:
    Given a running control plane

  Scenario: Registration with the right PSK creates the node and returns the bootstrap payload
    When node "node-01" registers with the right PSK, reporting worker URL "http://worker-01.test:12090"
    Then the registration answers 201 with a node_bootstrap_payload_v1
    And the bootstrap URLs are built from the control plane's public URL
    And the node row "node-01" is active with worker URL "http://worker-01.test:12090"

  Scenario: Registration with a wrong PSK is refused
    When node "node-01" registers with a wrong PSK
    Then the control plane answers 401 with problem detail "Invalid registration PSK"
    And no node row "node-01" exists

  Scenario: Re-registration keeps the node and rotates its JWT
    Given node "node-01" has registered
    When node "node-01" registers again with the right PSK
    Then the registration answers 200 with a node_bootstrap_payload_v1
    And the node row "node-01" still has the same id
    And a config fetch with the previous JWT of "node-01" answers 401 with problem detail "Invalid or expired token"
    And a config fetch with the current JWT of "node-01" answers 200

  Scenario: A capability report is stored as the raw snapshot with a new hash
    Given node "node-01" has registered
    When node "node-01" reports capabilities with 8 CPU cores and an unknown field "vendor_extension"
    Then the control plane answers 204
    And the stored snapshot of "node-01" has 8 CPU cores and keeps the unknown field "vendor_extension"
    And the capability hash of "node-01" is the sha256 of the new report and differs from the registration's

  Scenario: A capability report for another node is rejected
    Given node "node-01" has registered
    When node "node-01" reports capabilities naming node "node-02"
    Then the control plane answers 400 with problem detail "node_slug does not match authenticated node"

  Scenario: The config is only served with a valid node JWT
    Given node "node-01" has registered
    When the config is fetched without a JWT
    Then the control plane answers 401 with problem detail "Missing authorization header"
    When the config is fetched with a JWT forged with another secret
    Then the control plane answers 401 with problem detail "Invalid or expired token"
    When the config is fetched with a JWT of "node-01" with one byte changed
    Then the control plane answers 401 with problem detail "Invalid or expired token"

  Scenario: The config carries the node's version, worker token, target URL and inference settings
    Given node "node-01" has registered
    And node "node-02" has registered
    When node "node-01" fetches its config
    Then the config is a node_configuration_payload_v1 for "node-01" with a ULID config_version
    And the config's worker_api_target_url is the URL "node-01" reported
    And the config enables inference_backend with variant "cpu", port 11434 and model "standin:latest"
    And the config allows only the sandbox image "localhost/cynode-sandbox:latest"
    And the worker bearer tokens of "node-01" and "node-02" differ
    And the stored worker token of "node-01" is encrypted, not the token itself

  Scenario: The config version is stable until the config changes, then grows
    Given node "node-01" has registered
    And node "node-01" has fetched its config
    When node "node-01" fetches its config
    Then the config_version is the same as before
    When node "node-01" reports capabilities with worker URL "http://moved.test:12090"
    And node "node-01" fetches its config
    Then the config_version is greater than before

  Scenario: An applied ack records the ack and the applied version
    Given node "node-01" has registered
    And node "node-01" has fetched its config
    When node "node-01" acks its config as applied
    Then the control plane answers 204
    And the node row "node-01" records ack "applied" for the issued config version
    And the ack history of "node-01" has 1 entry

  Scenario: A failed ack records the error
    Given node "node-01" has registered
    And node "node-01" has fetched its config
    When node "node-01" acks its config as failed with "inference_start_failed" "ollama not healthy after 120s"
    Then the control plane answers 204
    And the node row "node-01" records ack error "inference_start_failed: ollama not healthy after 120s"

  Scenario: An ack for a version that is not the issued one is a conflict kept only in the history
    Given node "node-01" has registered
    And node "node-01" has fetched its config
    And node "node-01" has acked its config as applied
    When node "node-01" acks config version "01ARZ3NDEKTSV4RRFFQ69G5FAV" as failed with "config_invalid" "stale"
    Then the control plane answers 409 with problem type "urn:cynodeai:error:conflict"
    And the node row "node-01" records ack "applied" for the issued config version
    And the ack history of "node-01" has 2 entries

  Scenario: An ack for another node is rejected
    Given node "node-01" has registered
    And node "node-01" has fetched its config
    When node "node-01" acks its config as applied naming node "node-02"
    Then the control plane answers 400 with problem detail "node_slug does not match authenticated node"
