// The browser-wallet steps of the registry, through any EIP-1193 provider (window.ethereum):
// link a wallet by Sign-In with Ethereum (EIP-4361), and sign a certificate (EIP-712, v4).
(function () {
  "use strict";
  const status = document.getElementById("wallet-status");

  function say(text) {
    if (!status) return;
    status.textContent = text;
    status.hidden = !text;
  }

  function provider() {
    const ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      throw new Error(
        "No browser wallet was found: install one (such as MetaMask) and reload, " +
          "or use a key Atelier keeps for you."
      );
    }
    return ethereum;
  }

  function utf8Hex(text) {
    const bytes = new TextEncoder().encode(text);
    return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function reason(error) {
    if (error && error.code === 4001) return "You declined in your wallet; nothing was changed.";
    return (error && error.message) || String(error);
  }

  async function accounts(ethereum) {
    const shared = await ethereum.request({ method: "eth_requestAccounts" });
    if (!Array.isArray(shared) || !shared.length) {
      throw new Error("Your wallet shared no account; unlock it and try again.");
    }
    return shared;
  }

  async function linkWallet(button) {
    const ethereum = provider();
    const form = document.getElementById("link-form");
    say("Asking your wallet for its address…");
    const address = (await accounts(ethereum))[0];
    const body = new URLSearchParams({
      address: address,
      csrfmiddlewaretoken: form.elements.csrfmiddlewaretoken.value,
    });
    const response = await fetch(button.dataset.messageUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || "The site gave no sign-in message.");
    say("Sign the message in your wallet…");
    const signature = await ethereum.request({
      method: "personal_sign",
      params: [utf8Hex(answer.message), address],
    });
    form.elements.message.value = answer.message;
    form.elements.signature.value = signature;
    say("Linking your wallet…");
    form.submit();
  }

  async function signCertificate(button) {
    const ethereum = provider();
    const form = document.getElementById("signature-form");
    const typedData = JSON.parse(document.getElementById("typed-data").textContent);
    const address = button.dataset.address;
    const shared = await accounts(ethereum);
    if (!shared.some((account) => account.toLowerCase() === address.toLowerCase())) {
      throw new Error(
        "This certificate is for " + address + ", but your wallet shares " +
          shared.join(", ") + ": switch to that account and try again."
      );
    }
    say("Sign the certificate in your wallet…");
    const signature = await ethereum.request({
      method: "eth_signTypedData_v4",
      params: [address, JSON.stringify(typedData)],
    });
    form.elements.signature.value = signature;
    say("Checking the signature…");
    form.submit();
  }

  function wire(id, action) {
    const button = document.getElementById(id);
    if (!button) return;
    button.addEventListener("click", async function () {
      button.disabled = true;
      try {
        await action(button);
      } catch (error) {
        say(reason(error));
        button.disabled = false;
      }
    });
  }

  wire("link-wallet", linkWallet);
  wire("sign-in-wallet", signCertificate);
})();
