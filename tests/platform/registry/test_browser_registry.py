"""In a real browser (Debian's Chromium through Playwright), against anvil and a `chain` worker: an
artist links a wallet by Sign-In with Ethereum, certifies a generated work, signs it in the wallet
(an injected EIP-1193 provider backed by anvil's unlocked accounts) and mints it; then certifies an
upload with a kept key; the public pages show the tokens, the signers and the confirmations."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from studio.models import Work

from accounts.models import User
from tests.platform import test_browser
from tests.platform.registry.conftest import RegistryChain, painting_png

pytestmark = [
    pytest.mark.browser,
    pytest.mark.chain,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

# The Chromium and page of the platform's own browser tests.
browser = test_browser.browser
page = test_browser.page

# A wallet as a page sees one (EIP-1193): every call is a JSON-RPC POST to anvil, whose dev
# accounts are unlocked; it shares anvil's second account (the first relays the platform's mints).
WALLET = """
(() => {
  const rpcUrl = %r;
  let id = 0;
  async function rpc(method, params) {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method: method, params: params || [] }),
    });
    const answer = await response.json();
    if (answer.error) {
      throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
    }
    return answer.result;
  }
  window.ethereum = {
    request: async ({ method, params }) => {
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return (await rpc("eth_accounts")).slice(1, 2);
        case "eth_chainId":
        case "personal_sign":
        case "eth_signTypedData_v4":
          return rpc(method, params);
        default:
          throw Object.assign(new Error("unsupported method " + method), { code: 4200 });
      }
    },
  };
})();
"""


def _mint_and_wait(page: Page) -> None:
    page.get_by_role("button", name="Mint", exact=True).click()
    expect(page.locator("#job-progress")).to_be_visible()
    expect(page.locator("#mint-state")).to_have_text("Confirmed", timeout=60_000)


def test_an_artist_links_a_wallet_certifies_and_mints_a_work_and_an_upload(
    page: Page,
    live_server: object,
    registry_chain: RegistryChain,
    chain_worker: subprocess.Popen[bytes],
    artist: User,
    make_work: Callable[..., Work],
    tmp_path: Path,
) -> None:
    base = str(live_server)
    work = make_work(artist, seed=7)
    wallet_address = registry_chain.node.dev_accounts()[1]
    page.add_init_script(WALLET % registry_chain.node.rpc_url)
    test_browser._sign_in(page, base, artist)

    # Link the wallet: SIWE message from the server, personal_sign in the wallet.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Registry").click()
    page.get_by_role("link", name="Your wallets").click()
    page.get_by_role("button", name="Link my wallet").click()
    expect(page.get_by_role("status")).to_contain_text(f"Linked your wallet {wallet_address}.")
    expect(page.get_by_role("cell", name=wallet_address)).to_be_visible()

    # Certify the studio work with it: EIP-712 signature in the wallet, then the mint.
    page.goto(f"{base}/studio/works/")
    page.get_by_role("link", name=f"Certify seed 7 of model {work.model_id}").click()
    page.get_by_label("Sign with").select_option(label=f"My wallet {wallet_address}")
    page.get_by_label("Royalty (%)").fill("8")
    page.get_by_role("button", name="Prepare the certificate").click()
    page.get_by_role("button", name="Sign in my wallet").click()
    expect(page.get_by_role("status")).to_contain_text("Signed in your wallet.")
    _mint_and_wait(page)
    expect(page.locator("#mint-token")).to_have_text("#1")
    expect(page.locator("#mint-tx")).to_have_text(re.compile(r"^0x[0-9a-f]{64}$"))

    page.get_by_role("link", name="Open the public certificate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fuji sketch #7")
    expect(page.locator("#mint-state")).to_have_text("Confirmed")
    expect(page.locator("#token-id")).to_have_text("#1")
    expect(page.locator("#signer")).to_have_text(wallet_address)
    expect(page.locator("#signature-check")).to_contain_text("Valid")
    expect(page.locator("#royalty")).to_contain_text("8% (800 basis points)")
    expect(page.get_by_role("img", name="QR code that opens this certificate")).to_be_visible()

    # An uploaded image, signed with a key the platform keeps.
    upload = tmp_path / "sunrise.png"
    upload.write_bytes(painting_png(77))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Registry").click()
    page.get_by_label("Image:").set_input_files(upload)
    page.get_by_label("Title").fill("Sunrise")
    page.get_by_label("Sign with").select_option(label="A key Atelier keeps for me (made now)")
    page.get_by_role("button", name="Certify", exact=True).click()
    page.get_by_role("button", name="Sign with my kept key").click()
    _mint_and_wait(page)
    expect(page.locator("#mint-token")).to_have_text("#2")
    kept_address = page.locator("#signer").inner_text()
    assert kept_address != wallet_address

    page.get_by_role("link", name="Open the public certificate").click()
    expect(page.locator("#token-id")).to_have_text("#2")
    expect(page.locator("#signer")).to_have_text(kept_address)
    expect(page.get_by_text("Key kept by the platform (encrypted)")).to_be_visible()
    expect(page.locator("#lineage")).to_have_text("Uploaded image, no generation lineage.")
