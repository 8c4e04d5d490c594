/* The citizen's card sign-in: signs the server's challenge with the card's key (WebCrypto).
   A static file so the Content-Security-Policy can forbid inline scripts; the page's words
   come from the JSON block #signin-text. */
(() => {
  const settings = JSON.parse(document.getElementById("signin-text").textContent);
  const text = settings.text;
  const lang = settings.lang;
  const form = document.getElementById("card-signin");
  const status = document.getElementById("signin-status");
  const say = (message, bad) => { status.textContent = message; status.className = bad ? "bad" : "muted"; };
  const block = (pem, label) => {
    const match = pem.match(new RegExp("-----BEGIN " + label + "-----([\\s\\S]*?)-----END " + label + "-----"));
    return match ? match[0] : null;
  };
  const der = (block) => Uint8Array.from(atob(block.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")), c => c.charCodeAt(0));
  const b64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = document.getElementById("card-file").files;
    if (!files.length) { say(text.noFile, true); return; }
    if (!window.crypto || !crypto.subtle) { say(text.noCrypto, true); return; }
    let all = "";
    for (const file of files) { all += "\n" + await file.text(); }
    const certificate = block(all, "CERTIFICATE");
    const keyBlock = block(all, "PRIVATE KEY");
    if (!certificate) { say(text.noCert, true); return; }
    if (!keyBlock) { say(text.noKey, true); return; }
    say(text.signing);
    try {
      const key = await crypto.subtle.importKey("pkcs8", der(keyBlock), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
      const begin = await fetch("/api/v1/citizen/sign-in/begin?lang=" + lang, { method: "POST", headers: { "Accept": "application/json" } });
      const start = await begin.json();
      if (!begin.ok) { say(start.detail || start.title || text.failed, true); return; }
      const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(start.challenge));
      const done = await fetch("/api/v1/citizen/sign-in/complete?lang=" + lang, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ challenge_id: start.challenge_id, certificate, signature: b64url(signature), next: document.getElementById("next").value }),
      });
      const result = await done.json();
      if (!done.ok) { say((result.title || text.failed) + (result.detail ? "：" + result.detail : ""), true); return; }
      say(text.welcome.replace("{name}", result.name));
      window.location.assign(result.redirect);
    } catch (error) {
      say(text.failed + " (" + error + ")", true);
    }
  });
})();
