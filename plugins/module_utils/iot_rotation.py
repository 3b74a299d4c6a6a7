# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Certificate rotation of a fleet: one resumable state machine per device, its state kept in AWS.

A device's rotation state lives in its thing's attributes (any controller can resume it) and the conversation with the
device in its named shadow ``cert-rotation`` (module_utils/iot.py ROTATION_SHADOW):

==========  ======================================  =============================================================
state       the controller has...                   and waits for / then
==========  ======================================  =============================================================
(none)      nothing                                 the certificate to come due (cert_expires, cert_issued)
requested   asked for a CSR (desired step csr)      reported step csr with a CSR -> validate, issue, attach, deliver
issued      delivered the certificate (step install) reported step installed with that certificate id -> old INACTIVE
confirmed   deactivated the old certificate          the grace period -> detach and delete the old certificate
done        finished                                 the next due date
==========  ======================================  =============================================================

Every step is idempotent: a run stopped anywhere is resumed by the next run without a second certificate (a CSR's
public key finds the certificate already issued for it), and a device that never answers keeps its old certificate.
Thing attributes (the thing type allows 50): ``cert_id``, ``cert_expires`` and ``cert_issued`` (epoch seconds) of the
active certificate, which select due devices from one ListThings page per 250 things, and ``rotation_id``,
``rotation_state``, ``rotation_old_cert``, ``rotation_new_cert``, ``rotation_csr_key`` (the public key being certified,
recorded before the certificate is asked for), ``rotation_at``, ``rotation_confirmed_at``.
"""

from __future__ import annotations

import binascii
import datetime
import json
import os
import time

from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot_pki
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import ROTATION_SHADOW, missing_ok, paginate
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot_bulk import describe_error, run_each

CERT_ATTRIBUTES = ("cert_id", "cert_expires", "cert_issued")
ROTATION_ATTRIBUTES = (
    "rotation_id",
    "rotation_state",
    "rotation_old_cert",
    "rotation_new_cert",
    "rotation_csr_key",
    "rotation_at",
    "rotation_confirmed_at",
)
IN_PROGRESS = ("requested", "issued", "confirmed")
DAY = 86400


def new_rotation_id(now):
    return f"r{int(now)}-{binascii.hexlify(os.urandom(3)).decode()}"


def _epoch(value):
    if isinstance(value, (int, float)):
        return int(value)
    if hasattr(value, "timestamp"):
        return int(value.timestamp())
    return int(datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def cert_attributes(info):
    """The thing attributes that describe its active certificate (from iot_pki.certificate_info plus its id)."""
    return {
        "cert_id": info["certificate_id"],
        "cert_expires": str(_epoch(info.get("not_after_epoch") or info["not_after"])),
        "cert_issued": str(_epoch(info.get("not_before_epoch") or info["not_before"])),
    }


class Shadow:
    """The named rotation shadow of things, over the IoT data plane (HTTPS)."""

    def __init__(self, data_client, name=ROTATION_SHADOW):
        self.client = data_client
        self.name = name

    def get(self, thing):
        response = missing_ok(self.client.get_thing_shadow, thingName=thing, shadowName=self.name, aws_retry=True)
        return json.loads(response["payload"].read() or b"{}") if response else {}

    def desire(self, thing, rotation):
        payload = json.dumps({"state": {"desired": {"rotation": rotation}}}).encode()
        self.client.update_thing_shadow(thingName=thing, shadowName=self.name, payload=payload, aws_retry=True)


def _rotation(document, section):
    value = (document.get("state") or {}).get(section) or {}
    rotation = value.get("rotation")
    return rotation if isinstance(rotation, dict) else {}


class FleetRotation:
    """One run over a fleet. ``params`` are the iot_certificate_rotation module's options."""

    def __init__(self, iot, shadow, params, check_mode=False, clock=time.time, sleep=time.sleep):
        self.iot = iot
        self.shadow = shadow
        self.p = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.changed = False
        self.ca_cert_pem = None
        self.ca_key_pem = None
        self.policy_arn = None
        self.last_finished_seconds = 0.0  # from the run's start to the last rotation that finished (rotated, in_grace)

    # --- selection ------------------------------------------------------------------------------------------------------
    def things(self):
        if self.p.get("things"):
            found = []
            for name in self.p["things"]:
                thing = missing_ok(self.iot.describe_thing, thingName=name, aws_retry=True)
                found.append(thing or {"thingName": name, "missing": True, "attributes": {}})
            return found
        params = {}
        if self.p.get("thing_type"):
            params["thingTypeName"] = self.p["thing_type"]
        return paginate(self.iot, "list_things", "things", **params)

    def certificate_attributes(self, thing):
        """cert_id/cert_expires/cert_issued from the attributes, or (older things) from the thing's active certificate."""
        attrs = thing.get("attributes") or {}
        if all(attrs.get(k) for k in CERT_ATTRIBUTES):
            return {k: attrs[k] for k in CERT_ATTRIBUTES}
        active = [c for c in iot_pki.thing_certificates(self.iot, thing["thingName"]) if c["status"] == "ACTIVE"]
        if not active:
            return None
        newest = max(active, key=lambda c: c["not_after_epoch"])
        return cert_attributes(newest)

    def due(self, cert, now):
        expires = int(cert["cert_expires"])
        if expires - now <= self.p["expires_within_days"] * DAY:
            return f"expires in {(expires - now) / DAY:.1f} days"
        if self.p.get("max_age_days") is not None and now - int(cert["cert_issued"]) >= self.p["max_age_days"] * DAY:
            return f"older than {self.p['max_age_days']} days"
        return None

    # --- writes ---------------------------------------------------------------------------------------------------------
    def set_attributes(self, thing_name, values):
        """Merge attributes (an empty value removes one)."""
        self.changed = True
        self.iot.update_thing(thingName=thing_name, attributePayload={"attributes": {k: str(v) for k, v in values.items()}, "merge": True}, aws_retry=True)

    def desire(self, thing_name, rotation):
        self.changed = True
        self.shadow.desire(thing_name, rotation)

    def prepare(self):
        if self.p["issuer"] == "own_ca":
            self.ca_cert_pem, self.ca_key_pem = iot_pki.read_ca_files(self.p["ca_certificate_path"], self.p["ca_private_key_path"])
            if not self.check_mode:
                _ca_id, changed = iot_pki.ensure_ca_registered(self.iot, self.ca_cert_pem, self.ca_key_pem)
                self.changed = self.changed or changed
        policy = self.iot.get_policy(policyName=self.p["policy_name"], aws_retry=True)
        self.policy_arn = policy["policyArn"]

    # --- the state machine ------------------------------------------------------------------------------------------------
    def start(self, thing, cert, reason, now):
        name = thing["thingName"]
        rid = new_rotation_id(now)
        result = {"thing_name": name, "rotation_id": rid, "old_certificate_id": cert["cert_id"], "reason": reason}
        if self.check_mode:
            return dict(result, status="would_start", step="none")
        self.set_attributes(
            name,
            {
                "rotation_id": rid,
                "rotation_state": "requested",
                "rotation_old_cert": cert["cert_id"],
                "rotation_new_cert": "",
                "rotation_csr_key": "",
                "rotation_at": int(now),
                "rotation_confirmed_at": "",
                **cert,
            },
        )
        self.desire(name, {"id": rid, "step": "csr"})
        return dict(
            result,
            status="pending",
            step="requested",
            state={"rotation_state": "requested", "rotation_id": rid, "rotation_old_cert": cert["cert_id"], "rotation_at": str(int(now))},
        )

    def advance(self, name, state):  # noqa: PLR0911  # one return per step of the state machine
        """One step further for a device in progress; returns its result (status pending until it needs nothing)."""
        rid = state["rotation_id"]
        base = {
            "thing_name": name,
            "rotation_id": rid,
            "old_certificate_id": state.get("rotation_old_cert") or None,
            "new_certificate_id": state.get("rotation_new_cert") or None,
            "step": state["rotation_state"],
        }
        now = self.clock()
        base["pending_seconds"] = int(now - int(state.get("rotation_at") or now))
        if self.check_mode:
            return dict(base, status="in_progress")
        if state["rotation_state"] == "confirmed":
            return self._finish(name, state, base, now)
        document = self.shadow.get(name)
        desired, reported = _rotation(document, "desired"), _rotation(document, "reported")
        answered = reported.get("id") == rid
        if answered and reported.get("step") == "failed":
            return dict(base, status="failed", reason="the device reports: {}".format(reported.get("reason", "no reason given")))
        if state["rotation_state"] == "requested":
            if answered and reported.get("step") == "csr" and reported.get("csr"):
                return self._issue(name, state, base, reported["csr"], now)
            if desired.get("id") != rid or desired.get("step") != "csr":
                self.desire(name, {"id": rid, "step": "csr"})
            return dict(base, status="pending", reason="waiting for the device's CSR")
        # issued
        new_id = state["rotation_new_cert"]
        if answered and reported.get("step") == "installed":
            if reported.get("certificate_id") != new_id:
                return dict(base, status="failed", reason="the device installed certificate {}, not {}".format(reported.get("certificate_id"), new_id))
            return self._confirm(name, state, base, now)
        if desired.get("id") != rid or desired.get("step") != "install" or desired.get("certificate_id") != new_id:
            pem = iot_pki.describe_certificate(self.iot, new_id)["certificate_pem"]
            self.desire(name, {"id": rid, "step": "install", "certificate_id": new_id, "certificate_pem": pem})
        return dict(base, status="pending", reason="waiting for the device to connect and publish with the new certificate")

    def _issue(self, name, state, base, csr, now):
        try:
            info = iot_pki.validate_csr(csr, thing_name=name)
        except iot_pki.CsrError as error:
            # Nothing changes for the device: no certificate, no attachment; it keeps its certificate.
            return dict(base, status="failed", reason=f"refused the device's CSR: {error}")
        key = info["public_key_sha256"]
        existing = None
        if state.get("rotation_new_cert"):
            # A run stopped between issuing and attaching: the certificate id was recorded right after it was issued.
            recorded = iot_pki.describe_certificate(self.iot, state["rotation_new_cert"])
            if recorded and recorded.get("public_key_sha256") == key:
                existing = recorded
        elif state.get("rotation_csr_key") == key:
            # A run stopped between asking for the certificate and recording its id: find it by its key.
            existing = self._issued_since(key, int(state.get("rotation_at") or 0) - 300)
        else:
            # The intent first, so that a run stopped while the certificate is being issued finds it afterwards.
            self.set_attributes(name, {"rotation_csr_key": key})
            state["rotation_csr_key"] = key
        if existing is None:
            issued = iot_pki.issue_certificate(
                self.iot,
                self.p["issuer"],
                csr,
                thing_name=name,
                ca_cert_pem=self.ca_cert_pem,
                ca_key_pem=self.ca_key_pem,
                validity_days=self.p["certificate_validity_days"],
            )
            self.changed = True
            cert_id, cert_arn, pem = issued["certificate_id"], issued["certificate_arn"], issued["certificate_pem"]
            self.set_attributes(name, {"rotation_new_cert": cert_id})
        else:
            cert_id, cert_arn, pem = existing["certificate_id"], existing["certificate_arn"], existing["certificate_pem"]
        self.iot.attach_policy(policyName=self.p["policy_name"], target=cert_arn, aws_retry=True)
        self.iot.attach_thing_principal(thingName=name, principal=cert_arn, aws_retry=True)
        self.set_attributes(name, {"rotation_state": "issued", "rotation_new_cert": cert_id, "rotation_at": int(now)})
        self.desire(name, {"id": state["rotation_id"], "step": "install", "certificate_id": cert_id, "certificate_pem": pem})
        state.update(rotation_state="issued", rotation_new_cert=cert_id, rotation_at=str(int(now)))
        return dict(base, status="pending", step="issued", new_certificate_id=cert_id, reason="certificate delivered; waiting for the device")

    def _issued_since(self, public_key_sha256, since):
        """The certificate for this key that was created after ``since`` (epoch s), or None. Used only to resume a
        run that stopped in the middle of issuing, so a full listing of the account's certificates is affordable."""
        for cert in paginate(self.iot, "list_certificates", "certificates", ascendingOrder=False):
            created = cert.get("creationDate")
            if created is not None and hasattr(created, "timestamp") and created.timestamp() < since:
                continue
            found = iot_pki.describe_certificate(self.iot, cert["certificateId"])
            if found and found.get("public_key_sha256") == public_key_sha256 and found["status"] == "ACTIVE":
                return found
        return None

    def _confirm(self, name, state, base, now):
        new_id = state["rotation_new_cert"]
        info = iot_pki.describe_certificate(self.iot, new_id)
        old_id = state.get("rotation_old_cert")
        if old_id and old_id != new_id:
            old = iot_pki.describe_certificate(self.iot, old_id)
            if old and old["status"] == "ACTIVE":
                self.changed = True
                self.iot.update_certificate(certificateId=old_id, newStatus="INACTIVE", aws_retry=True)
        self.set_attributes(name, dict(cert_attributes(info), rotation_state="confirmed", rotation_confirmed_at=int(now), rotation_at=int(now)))
        self.desire(name, {"id": state["rotation_id"], "step": "done"})
        state.update(rotation_state="confirmed", rotation_confirmed_at=str(int(now)))
        return self._finish(name, state, dict(base, step="confirmed"), now)

    def _finish(self, name, state, base, now):
        confirmed_at = int(state.get("rotation_confirmed_at") or now)
        grace = self.p["grace_period_hours"] * 3600
        if now - confirmed_at < grace:
            return dict(
                base,
                status="in_grace",
                step="confirmed",
                reason=f"old certificate inactive; deleted after the grace period ({int(grace - (now - confirmed_at))} s left)",
            )
        old_id = state.get("rotation_old_cert")
        if old_id and old_id != state.get("rotation_new_cert"):
            old = iot_pki.describe_certificate(self.iot, old_id)
            if old:  # None: deleted by an earlier, interrupted run
                iot_pki.deactivate_and_delete(self.iot, old_id, old["certificate_arn"], [name], False)
                self.changed = True
        self.set_attributes(name, {"rotation_state": "done", "rotation_old_cert": "", "rotation_at": int(now)})
        return dict(base, status="rotated", step="done", reason=None)

    # --- the run ----------------------------------------------------------------------------------------------------------
    def run(self):  # noqa: PLR0912, PLR0915
        now = self.clock()
        self.prepare()
        things = self.things()
        results = []
        work = {}  # thing name -> its rotation state (attributes)
        due = []
        for thing in things:
            name = thing["thingName"]
            if thing.get("missing"):
                results.append({"thing_name": name, "status": "failed", "reason": f"things: no thing named {name}"})
                continue
            attrs = thing.get("attributes") or {}
            if attrs.get("rotation_state") in IN_PROGRESS and attrs.get("rotation_id"):
                work[name] = {k: attrs.get(k, "") for k in ROTATION_ATTRIBUTES}
                continue
            due.append(thing)

        def _check(thing):
            cert = self.certificate_attributes(thing)
            if cert is None:
                return {"thing_name": thing["thingName"], "status": "failed", "reason": "the thing has no ACTIVE certificate to rotate"}
            reason = self.due(cert, now)
            return {"thing_name": thing["thingName"], "status": "due" if reason else "not_due", "reason": reason, "cert": cert}

        checked = run_each(due, _check, self.p["workers"])
        candidates = []
        for thing, result in zip(due, checked):
            result.setdefault("thing_name", thing["thingName"])
            if result["status"] == "due":
                candidates.append((int(result["cert"]["cert_expires"]), thing, result))
            elif result["status"] == "not_due":
                results.append({"thing_name": thing["thingName"], "status": "not_due"})
            else:
                results.append(result)
        candidates.sort(key=lambda c: (c[0], c[1]["thingName"]))
        for _expires, thing, result in candidates[self.p["batch"] :]:
            results.append({"thing_name": thing["thingName"], "status": "deferred", "reason": "{}; over this run's batch".format(result["reason"])})

        started = run_each(candidates[: self.p["batch"]], lambda c: self.start(c[1], c[2]["cert"], c[2]["reason"], now), self.p["workers"])
        final = {}
        for (_expires, thing, _result), outcome in zip(candidates[: self.p["batch"]], started):
            outcome.setdefault("thing_name", thing["thingName"])
            if outcome["status"] == "pending":
                work[thing["thingName"]] = outcome.pop("state")
            else:
                final[thing["thingName"]] = outcome

        deadline = now + self.p["wait_timeout"]
        while work:
            names = sorted(work)
            outcomes = run_each(names, lambda n: self._advance_safely(n, work[n]), self.p["workers"])
            for name, outcome in zip(names, outcomes):
                outcome.setdefault("thing_name", name)
                final[name] = outcome
                if outcome["status"] != "pending":
                    del work[name]
                if outcome["status"] in ("rotated", "in_grace"):
                    self.last_finished_seconds = self.clock() - now
            if self.check_mode or not work or self.clock() + self.p["poll_interval"] > deadline:
                break
            self.sleep(self.p["poll_interval"])
        results.extend(final.values())
        results.sort(key=lambda r: r["thing_name"])
        return results

    def _advance_safely(self, name, state):
        try:
            return self.advance(name, state)
        except iot_pki.CsrError as error:
            return {"thing_name": name, "status": "failed", "reason": str(error)}
        except Exception as error:  # pylint: disable=broad-exception-caught  # this device's result, not the run's
            return {
                "thing_name": name,
                "status": "failed",
                "step": state.get("rotation_state"),
                "rotation_id": state.get("rotation_id"),
                "reason": describe_error(error),
            }


def summarize(results):
    counts = {"rotated": 0, "in_grace": 0, "pending": 0, "failed": 0, "not_due": 0, "deferred": 0, "would_start": 0, "in_progress": 0}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


# The statuses of devices that a run did not work on (not due, or due but over the batch).
NOT_WORKED_ON = ("not_due", "deferred")


def verdict(results, max_failed=0, max_failed_percent=None):
    """Whether the run's failures exceed the threshold: more than ``max_failed`` failed devices and, when
    ``max_failed_percent`` is set, more than that percentage of the devices worked on (all but not_due and deferred),
    so that with both set ``max_failed`` is the floor for small runs. Pending devices are not failures."""
    failed = [result for result in results if result["status"] == "failed"]
    worked_on = sum(1 for result in results if result["status"] not in NOT_WORKED_ON)
    percent = round(100.0 * len(failed) / worked_on, 2) if worked_on else 0.0
    over = len(failed) > max_failed and (max_failed_percent is None or percent > max_failed_percent)
    threshold = f"more than {max_failed} failed device(s)"
    if max_failed_percent is not None:
        threshold += f" and more than {max_failed_percent} % of the {worked_on} devices worked on"
    return {
        "failed": len(failed),
        "worked_on": worked_on,
        "failed_percent": percent,
        "max_failed": max_failed,
        "max_failed_percent": max_failed_percent,
        "over_threshold": over,
        "threshold": threshold,
        "failed_devices": [result["thing_name"] for result in failed],
    }
