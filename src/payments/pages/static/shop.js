// shop.js: the buyer's side of the payments service, in plain browser JavaScript.
//
// A real shop frontend can copy this file. It shows what a client of the API
// has to get right:
//   1. Start a checkout with an Idempotency-Key and reuse that key when it
//      retries, so a flaky network never turns one click into two orders.
//   2. Send the buyer to Stripe's hosted page: card data never touches the shop.
//   3. When the buyer comes back, ask GET /checkout/verify with backoff and say
//      honestly what happened: the webhook may be late, and some payment
//      methods take days to settle.
//
// Each page names itself in <body data-page="...">; the cancel page needs no script.
"use strict";

// ---------------------------------------------------------------- shared

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls the API. Resolves to {status, data} whatever the HTTP status;
// rejects only when no answer arrived (offline, connection reset, ...).
async function api(method, path, { body, headers } = {}) {
  const sending = body !== undefined;
  const response = await fetch(path, {
    method,
    // Content-Type only with a body: a cross-origin GET then needs no CORS preflight.
    headers: {
      Accept: "application/json",
      ...(sending && { "Content-Type": "application/json" }),
      ...headers,
    },
    body: sending ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON, e.g. a proxy's error page: the status alone decides.
  }
  return { status: response.status, data };
}

// Errors are always {"error": {"code", "message"}}: branch on code, show message.
const errorCode = (data) => data?.error?.code;
const errorMessage = (data, fallback) => data?.error?.message ?? fallback;

// Worth retrying: no answer, the provider or the database briefly unavailable,
// or the same Idempotency-Key still being processed by an earlier attempt.
function isRetryable(result) {
  if (result === null) return true;
  return [429, 500, 502, 503, 504].includes(result.status) ||
    errorCode(result.data) === "idempotency_key_in_use";
}

// ---------------------------------------------------------------- storefront

const BUY_ATTEMPTS = 4; // one click's request is sent at most this often

const SELLERS = {
  platform: "Sold by the shop",
  direct: "Sold by a partner (direct charge)",
  destination: "Sold by a partner (destination charge)",
};

async function showStorefront() {
  const loading = document.getElementById("loading");
  let result = null;
  try {
    result = await api("GET", "/products");
  } catch {
    // Shown below.
  }
  loading.hidden = true;
  if (result?.status !== 200) {
    showError(errorMessage(result?.data, "Could not load the products; please reload the page."));
    return;
  }
  const products = result.data.data;
  document.getElementById("products").append(...products.map(productItem));
  if (products.length === 0) {
    loading.textContent = "Nothing is for sale yet.";
    loading.hidden = false;
  }
}

// Built with textContent, never innerHTML: a product name is data, not markup.
function productItem(product) {
  const item = document.createElement("li");
  item.className = "product";
  item.dataset.productId = product.id;
  item.append(
    textElement("h2", "name", product.name),
    textElement("p", "price", formatPrice(product.unit_amount, product.currency)),
    textElement("p", "stock", product.stock === null ? "unlimited" : `${product.stock} left`),
    textElement("p", "seller-type", SELLERS[product.seller_type ?? "platform"]),
  );
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.testid = "buy";
  button.dataset.productId = product.id;
  button.textContent = product.stock === 0 ? "Sold out" : "Buy";
  button.disabled = product.stock === 0;
  button.addEventListener("click", () => buy(product, button));
  item.append(button);
  return item;
}

function textElement(tag, testid, text) {
  const element = document.createElement(tag);
  element.dataset.testid = testid;
  element.textContent = text;
  return element;
}

// Amounts are integers in minor units (2500 usd is $25.00). Intl knows how many
// decimals a currency has (jpy 0, usd 2, kwd 3); floats appear only for display.
// (Stripe treats a few currencies specially, e.g. isk and huf: see its docs.)
function formatPrice(minorUnits, currency) {
  const format = new Intl.NumberFormat(undefined, {
    style: "currency",
    currency: currency.toUpperCase(),
  });
  const decimals = format.resolvedOptions().maximumFractionDigits;
  return format.format(minorUnits / 10 ** decimals);
}

// One click is one purchase attempt: one Idempotency-Key, kept for that click's
// retries. The service then answers a retry with the same order and session.
// The next click is a new attempt and gets a new key.
async function buy(product, button) {
  showError("");
  button.disabled = true;
  const key = newIdempotencyKey();
  const body = { items: [{ product_id: product.id, quantity: 1 }] };
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    let result = null;
    try {
      result = await api("POST", "/checkout/sessions", {
        body,
        headers: { "Idempotency-Key": key },
      });
    } catch {
      // No answer: retried with the same key below.
    }
    if (result?.status === 201) {
      window.location.assign(result.data.checkout_url); // to Stripe's hosted page
      return; // the button stays disabled while the browser leaves
    }
    if (!isRetryable(result) || attempt === BUY_ATTEMPTS) {
      // e.g. 409 out_of_stock: "items: only 0 left of product ..."
      showError(errorMessage(result?.data, "Could not start the checkout; please try again."));
      button.disabled = false;
      return;
    }
    await sleep(delay);
    delay *= 2;
  }
}

// crypto.randomUUID exists only on secure origins (https, localhost);
// elsewhere 16 random bytes in hex are just as unique.
function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function showError(message) {
  const element = document.getElementById("error");
  element.textContent = message;
  element.hidden = !message;
}

// ---------------------------------------------------------------- checkout success

// Ask again after 0.5 s, 1 s, 2 s, 4 s, then every 5 s, for about a minute.
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
const GIVE_UP_AFTER_MS = 60000;

// The order is not settled yet in these states: keep asking.
const UNSETTLED = new Set(["pending", "processing", "refund_pending"]);

const SOLD_OUT = "This item sold out just before your payment; your payment ";
const MESSAGES = {
  pending: "Waiting for the payment to be confirmed…",
  processing: "Your payment is processing; some payment methods take a few days to settle.",
  paid: "Payment received. Thank you for your order!",
  failed: "The payment did not go through; you have not been charged.",
  expired: "The checkout expired before you paid; you have not been charged.",
  refund_pending: SOLD_OUT + "is being refunded.",
  refunded: SOLD_OUT + "has been refunded.",
};
// When we stop asking, say only what we know; reloading the page asks again.
const GAVE_UP = {
  processing: "Your payment is still processing; reload this page later to see the result.",
  pending: "Your payment is not confirmed yet; reload this page in a moment to check again.",
  unanswered: "We could not reach the shop to check your payment; reload this page to try again.",
};
const UNKNOWN = "Unknown checkout: we have no order for this link.";

async function followCheckout() {
  const sessionId = new URLSearchParams(window.location.search).get("session_id");
  if (!sessionId) {
    showStatus("unknown", UNKNOWN, false);
    return;
  }
  const path = `/checkout/verify?session_id=${encodeURIComponent(sessionId)}`;
  const giveUpAt = Date.now() + GIVE_UP_AFTER_MS;
  let delay = FIRST_DELAY_MS;
  let status = null; // the last status the API told us
  for (;;) {
    let result = null;
    try {
      result = await api("GET", path);
    } catch {
      // No answer: retried below.
    }
    if (result?.status === 200) {
      status = result.data.status;
      showOrder(result.data.order_id);
      showStatus(status, MESSAGES[status] ?? `Order status: ${status}`, UNSETTLED.has(status));
      if (!UNSETTLED.has(status)) return; // paid, failed, expired, refunded: final
    } else if (result?.status === 404 || result?.status === 422) {
      showStatus("unknown", UNKNOWN, false); // not a session this service made
      return;
    } else if (!isRetryable(result)) {
      showStatus(status, errorMessage(result.data, `Unexpected answer ${result.status}.`), false);
      return;
    }
    // Unsettled, no answer, or 502 (Stripe unreachable: the webhook will still
    // confirm the payment). Ask again later, but not forever.
    if (Date.now() + delay > giveUpAt) {
      // Honest about what we know: a queued refund still happens without this page.
      const message = status === "refund_pending" ? MESSAGES[status] : GAVE_UP[status ?? "unanswered"];
      showStatus(status, message, false);
      return;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

// data-status is the API's status (or "unknown"); data-polling says whether
// the page is still asking, so tests and styles can tell a final answer apart.
function showStatus(status, message, polling) {
  const element = document.getElementById("status");
  if (status) element.dataset.status = status;
  element.dataset.polling = String(polling);
  element.textContent = message;
}

function showOrder(orderId) {
  document.getElementById("order-id").textContent = orderId;
  document.getElementById("order").hidden = false;
}

// ---------------------------------------------------------------- start

const page = document.body.dataset.page;
if (page === "storefront") {
  showStorefront();
  // Coming back from Stripe with the Back button may restore this page from
  // the browser's memory, buttons disabled and stock stale: load it afresh.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) window.location.reload();
  });
} else if (page === "success") {
  followCheckout();
}
