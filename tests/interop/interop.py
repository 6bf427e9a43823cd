"""Real client libraries against defender-mock over HTTPS, configured as their docs say for a
non-Microsoft authority: MSAL (instance_discovery=False), azure-identity
(disable_instance_discovery=True), plain requests for the v1 `resource=` flow. CA trust comes
from REQUESTS_CA_BUNDLE, as it would for a user. Prints one line per check and a closing
'N passed, N failed' line; exits 1 on any failure."""
import json
import os
import pathlib
import queue
import subprocess
import sys
import tempfile
import threading
import traceback
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/defender-mock")
DEV_APP = "d3fe0d3f-0000-4000-8000-00000000a991"
DEV_SECRET = "defender-mock-development-secret"
SCOPE = "https://api.securitycenter.microsoft.com/.default"
DOC_BODY = {"Comment": "Unisolate machine since it was clean and validated"}
FLEET = {m["computerDnsName"].split(".")[0]: m["id"] for m in json.loads((ROOT / "fixtures/machines.json").read_text())}


def start_server(tls_dir):
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--tls", "--tls-dir", tls_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    line = lines.get(timeout=30)
    assert line.startswith("defender-mock listening on https://"), line
    return proc, int(line.strip().rsplit(":", 1)[1])


def main():
    tls_dir = tempfile.mkdtemp(prefix="dm-interop-")
    proc, port = start_server(tls_dir)
    os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(tls_dir, "ca.pem")
    # Imported after the CA is known; they read the bundle per request anyway.
    import msal
    import requests
    from azure.identity import CertificateCredential, ClientSecretCredential

    host = f"localhost:{port}"
    api = f"https://{host}/api"
    results = []

    def check(name, fn):
        try:
            fn()
            results.append(True)
            print(f"PASS {name}")
        except Exception:  # noqa: BLE001 - report every failure, keep going
            results.append(False)
            print(f"FAIL {name}\n{traceback.format_exc()}")

    def call(token, method, path, **kw):
        return requests.request(method, api + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw)

    def msal_client_credentials_then_documented_unisolate():
        tenant = str(uuid.uuid4())
        app = msal.ConfidentialClientApplication(DEV_APP, client_credential=DEV_SECRET,
                                                 authority=f"https://{host}/{tenant}", instance_discovery=False)
        result = app.acquire_token_for_client(scopes=[SCOPE])
        assert "access_token" in result, result
        r = call(result["access_token"], "POST", f"/machines/{FLEET['fin-lt-0187']}/unisolate", json=DOC_BODY)
        assert r.status_code == 201, (r.status_code, r.text)
        body = r.json()
        assert body["type"] == "Unisolate" and body["status"] == "Pending", body
        assert body["requestor"] == "defender-mock development app", body
        r = call(result["access_token"], "GET", f"/machineactions/{body['id']}")
        assert r.status_code == 200 and r.json()["id"] == body["id"], r.text

    def msal_username_password_acts_as_the_user():
        tenant = str(uuid.uuid4())
        # MSAL looks the user's realm up at https://<hostname>/common/userrealm/..., dropping the
        # authority's port (msal/authority.py); the emulator serves that route, so this works on
        # port 443 (transparent mode). On this test's random port, tell MSAL the host has none.
        msal.authority.Authority._domains_without_user_realm_discovery.add("localhost")
        app = msal.PublicClientApplication(DEV_APP, authority=f"https://{host}/{tenant}", instance_discovery=False)
        result = app.acquire_token_by_username_password(
            "analyst@defendermock.onmicrosoft.com", "defender-mock-development-password",
            scopes=["https://api.securitycenter.microsoft.com/Machine.Isolate"])
        assert "access_token" in result, result
        r = call(result["access_token"], "POST", f"/machines/{FLEET['fin-lt-0142']}/isolate",
                 json={"Comment": "isolate by user", "IsolationType": "Selective"})
        assert r.status_code == 201, (r.status_code, r.text)
        assert r.json()["requestor"] == "analyst@defendermock.onmicrosoft.com", r.text

    def azure_identity_client_secret_credential():
        cred = ClientSecretCredential(str(uuid.uuid4()), DEV_APP, DEV_SECRET, authority=f"https://{host}",
                                      disable_instance_discovery=True)
        token = cred.get_token(SCOPE).token
        r = call(token, "GET", f"/machines/{FLEET['dc01']}")
        assert r.status_code == 200 and r.json()["computerDnsName"] == "dc01.corp.contoso.com", r.text

    def azure_identity_certificate_credential():
        cred = CertificateCredential(str(uuid.uuid4()), DEV_APP, certificate_path=str(ROOT / "keys/dev-app-client.pem"),
                                     authority=f"https://{host}", disable_instance_discovery=True)
        token = cred.get_token(SCOPE).token
        r = call(token, "POST", f"/machines/{FLEET['fin-lt-0187']}/unisolate", json=DOC_BODY)
        assert r.status_code == 201, (r.status_code, r.text)

    def v1_resource_flow_with_requests():
        tenant = str(uuid.uuid4())
        r = requests.post(f"https://{host}/{tenant}/oauth2/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": DEV_APP, "client_secret": DEV_SECRET,
            "resource": "https://api.securitycenter.microsoft.com"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["expires_in"] == "3599" and body["resource"] == "https://api.securitycenter.microsoft.com", body
        r = call(body["access_token"], "GET", "/machines?$filter=healthStatus%20eq%20'Active'&$top=5&$count=true")
        assert r.status_code == 200 and len(r.json()["value"]) == 5, r.text

    def msal_reports_a_bad_secret_as_entra_does():
        app = msal.ConfidentialClientApplication(DEV_APP, client_credential="wrong",
                                                 authority=f"https://{host}/{uuid.uuid4()}", instance_discovery=False)
        result = app.acquire_token_for_client(scopes=[SCOPE])
        assert result.get("error") == "invalid_client" and 7000215 in result.get("error_codes", []), result

    try:
        for fn in (msal_client_credentials_then_documented_unisolate, msal_username_password_acts_as_the_user,
                   azure_identity_client_secret_credential, azure_identity_certificate_credential,
                   v1_resource_flow_with_requests, msal_reports_a_bad_secret_as_entra_does):
            check(fn.__name__, fn)
    finally:
        proc.terminate()
        proc.wait(10)
    passed, failed = results.count(True), results.count(False)
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
