// /send: a live counter (the server, the one place that knows the SMS alphabet, says how the text
// splits as the recipients will get it, and whether the sender allows replies) and a preview of
// the SMS as a phone shows it, with a sample opt-out link where _BLOCKSMSLINK_ stands. Without
// JavaScript the form still works: the summary shows the same preview, rendered by the server.
(function () {
  const form = document.getElementById("send-form");
  if (!form) return;
  const text = document.getElementById("text");
  const sender = document.getElementById("sender");
  const counter = document.getElementById("counter");
  const senderLive = document.getElementById("sender-live");
  const phone = document.getElementById("phone-preview");
  const previewText = document.getElementById("preview-text");
  const previewSender = document.getElementById("preview-sender");
  const token = form.querySelector("input[name=_csrf_token]").value;
  const sv = document.documentElement.lang === "sv";
  let timer = null;
  function preview() {
    if (!phone) return;
    const shown = text.value.split(phone.dataset.placeholder).join(phone.dataset.sampleLink);
    previewText.textContent = shown || previewText.dataset.empty;
    previewText.classList.toggle("empty", !shown);
    previewSender.textContent = sender.value;
  }
  function update() {
    fetch("/send/analyse", {
      method: "POST",
      headers: { "Content-Type": "application/json", "x-csrftoken": token },
      body: JSON.stringify({ text: text.value, sender: sender.value }),
    }).then((response) => response.json()).then((result) => {
      if (result.error) {
        counter.textContent = result.error;
        counter.classList.add("field-error");
      } else {
        counter.classList.remove("field-error");
        const encoding = result.encoding === "gsm7" ? "GSM-7" : "UCS-2";
        counter.textContent = sv
          ? `${result.characters} tecken · ${result.parts} sms-del${result.parts === 1 ? "" : "ar"} · ${encoding} · ${result.remaining} kvar i sista delen`
          : `${result.characters} characters · ${result.parts} SMS part${result.parts === 1 ? "" : "s"} · ${encoding} · ${result.remaining} left in the last part`;
        if (result.non_gsm) counter.textContent += sv ? ` · tecken utanför sms-alfabetet: ${result.non_gsm}` : ` · characters outside the SMS alphabet: ${result.non_gsm}`;
      }
      if (result.sender_error) senderLive.textContent = result.sender_error;
      else if (result.sender_note) senderLive.textContent = result.sender_note;
      else if (result.can_reply === false) senderLive.textContent = sv ? "Mottagarna kan inte svara på en textavsändare." : "Recipients cannot reply to a text sender.";
      else if (result.can_reply === true) senderLive.textContent = sv ? "Mottagarna kan svara." : "Recipients can reply.";
      else senderLive.textContent = "";
    }).catch(() => {});
  }
  function later() { preview(); clearTimeout(timer); timer = setTimeout(update, 150); }
  text.addEventListener("input", later);
  sender.addEventListener("input", later);
  preview();
  update();
})();
