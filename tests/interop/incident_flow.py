"""A playbook's whole incident flow against defender-mock over HTTPS, written the way an integration
is written against Microsoft's documentation (plain `requests`, a v1 token for the WDATP-era
resource `https://api.securitycenter.windows.com`, which the Rapid7 plugin sends):

  an alert fires on a machine -> list new alerts -> find the alert's machine -> tag it ->
  isolate it by its aadDeviceId -> push a file indicator -> poll the action to Succeeded ->
  resolve the alert with a comment -> release the machine.

The emulator-only steps (raising the alert, moving the clock instead of waiting) go through the
control plane `/_mock/`. Prints one line per step and exits 1 on the first failure."""
import os
import sys
import tempfile
import uuid

# The server start, the binary and the development app are interop.py's (beside this file).
from interop import DEV_APP, DEV_SECRET, start_server

RESOURCE = "https://api.securitycenter.windows.com"
MACHINE = "exec-lt-0001"
SHA256 = "a0f3c0f7e3b57f4d9a1c7e0e3c5b0b8a5e8d2f1c9b6a3d7e4f2a1b0c9d8e7f6a"


def step(name):
    print(f"PASS {name}")


def main():
    tls_dir = tempfile.mkdtemp(prefix="dm-incident-")
    proc, port = start_server(tls_dir)
    os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(tls_dir, "ca.pem")
    import requests

    base = f"https://localhost:{port}"
    tenant = str(uuid.uuid4())
    try:
        # The token, as a v1 client asks for it.
        r = requests.post(f"{base}/{tenant}/oauth2/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": DEV_APP, "client_secret": DEV_SECRET,
            "resource": RESOURCE})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        step("token for https://api.securitycenter.windows.com")
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token}"

        def api(method, path, **kw):
            return s.request(method, f"{base}/api{path}", timeout=30, **kw)

        def advance(seconds):
            r = requests.post(f"{base}/_mock/clock/advance", json={"seconds": seconds}, timeout=30)
            assert r.status_code == 200, r.text

        def poll(action_id):
            for _ in range(20):
                r = api("GET", f"/machineactions/{action_id}")
                assert r.status_code == 200, r.text
                if r.json()["status"] in ("Succeeded", "Failed", "Cancelled", "TimeOut"):
                    return r.json()
                advance(30)
            raise AssertionError(f"action {action_id} never ended")

        # An alert fires on a machine (the emulator's side door).
        r = requests.post(f"{base}/_mock/alerts", params={"tenant": tenant}, timeout=30, json={
            "machineId": MACHINE, "title": "Suspicious PowerShell download cradle",
            "severity": "High", "category": "Execution"})
        assert r.status_code == 201, r.text
        fired = r.json()["id"]
        step("an alert fires")

        # The playbook lists new alerts and picks the one it has not seen.
        r = api("GET", "/alerts", params={"$filter": "status eq 'New'", "$top": "100"})
        assert r.status_code == 200, r.text
        alert = next((a for a in r.json()["value"] if a["id"] == fired), None)
        assert alert is not None, r.text
        assert alert["status"] == "New", alert
        step("list new alerts")

        r = api("GET", f"/alerts/{alert['id']}/machine")
        assert r.status_code == 200, r.text
        machine = r.json()
        assert machine["id"] == alert["machineId"], (machine["id"], alert["machineId"])
        aad = machine["aadDeviceId"]
        assert aad, machine
        step("find the alert's machine")

        tag = f"incident-{alert['id'][-6:]}"
        r = api("POST", f"/machines/{machine['id']}/tags", json={"Value": tag, "Action": "Add"})
        assert r.status_code == 200, r.text
        assert tag in r.json()["machineTags"], r.text
        r = api("GET", "/machines/findbytag", params={"tag": tag})
        assert r.status_code == 200 and [m["id"] for m in r.json()["value"]] == [machine["id"]], r.text
        step("tag the machine")

        r = api("POST", f"/machines/{aad}/isolate", json={
            "Comment": f"Isolated by playbook for alert {alert['id']}", "IsolationType": "Full"})
        assert r.status_code == 201, r.text
        isolation = r.json()
        assert isolation["machineId"] == machine["id"] and isolation["type"] == "Isolate", isolation
        step("isolate by aadDeviceId")

        r = api("POST", "/indicators", json={
            "indicatorValue": SHA256, "indicatorType": "FileSha256", "action": "AlertAndBlock",
            "title": f"Blocked for alert {alert['id']}", "description": "Dropped by the download cradle",
            "severity": "High", "generateAlert": True})
        assert r.status_code == 200, r.text
        indicator = r.json()
        assert indicator["indicatorValue"] == SHA256 and indicator["action"] == "AlertAndBlock", indicator
        r = api("GET", "/indicators", params={"$filter": f"indicatorValue eq '{SHA256}'"})
        assert r.status_code == 200 and len(r.json()["value"]) == 1, r.text
        step("push a file indicator")

        done = poll(isolation["id"])
        assert done["status"] == "Succeeded", done
        r = api("GET", f"/machines/{machine['id']}")
        assert r.status_code == 200, r.text
        step("poll the isolation to Succeeded")

        r = api("PATCH", f"/alerts/{alert['id']}", json={
            "status": "Resolved", "classification": "TruePositive", "determination": "Malware",
            "comment": "Contained: machine isolated, hash blocked"})
        assert r.status_code == 200, r.text
        resolved = r.json()
        assert resolved["status"] == "Resolved", resolved
        comments = [c["comment"] for c in resolved.get("comments", [])]
        assert "Contained: machine isolated, hash blocked" in comments, resolved
        step("resolve the alert with a comment")

        r = api("POST", f"/machines/{aad}/unisolate", json={"Comment": f"Released after alert {alert['id']}"})
        assert r.status_code == 201, r.text
        done = poll(r.json()["id"])
        assert done["status"] == "Succeeded", done
        step("release the machine")
    except AssertionError as e:
        print(f"FAIL incident flow: {e}")
        return 1
    finally:
        proc.terminate()
        proc.wait(10)
    print("incident flow: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
