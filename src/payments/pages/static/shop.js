// shop.js: the buyer's side of the payments service, in plain browser JavaScript.
//
// A real shop frontend can copy this file. It shows what a client of the API
// has to get right:
//   1. Start a checkout with an Idempotency-Key and reuse that key when it
//      retries, so a flaky network never turns one click into two orders.
//   2. Send the buyer to Stripe's hosted page: card data never touches the shop.
//   3. When the buyer comes back, ask GET /checkout/verify with backoff and say
//      honestly what happened: the webhook may be late, and some payment
//      methods take days to settle. GET /orders/{id} says what was bought,
//      paid and refunded.
//   4. Say everything in words a buyer uses, next to what it is about, in an
//      element screen readers announce (role="status" or role="alert").
//
// Each page names itself in <body data-page="...">. Text goes in with
// textContent, never innerHTML: product names and API answers are data, not markup.
"use strict";

// ---------------------------------------------------------------- shared

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls the API. Resolves to {status, data} whatever the HTTP status, and to
// null when no answer arrived (offline, connection reset, ...).
async function api(method, path, { body, headers } = {}) {
  const sending = body !== undefined;
  let response;
  try {
    response = await fetch(path, {
      method,
      // Content-Type only with a body: a cross-origin GET then needs no CORS preflight.
      headers: {
        Accept: "application/json",
        ...(sending && { "Content-Type": "application/json" }),
        ...headers,
      },
      body: sending ? JSON.stringify(body) : undefined,
    });
  } catch {
    return null;
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON, e.g. a proxy's error page: the status alone decides.
  }
  return { status: response.status, data };
}

// Errors are always {"error": {"code", "message"}}: branch on code. The message
// is written for developers; buyers get the page's own words.
const errorCode = (result) => result?.data?.error?.code;

// Worth retrying: no answer, the provider or the database briefly unavailable,
// or the same Idempotency-Key still being processed by an earlier attempt. Never
// a refusal: "provider_rejected" means Stripe will not take this order, however
// often it is asked.
function isRetryable(result) {
  if (result === null) return true;
  if (errorCode(result) === "provider_rejected") return false;
  return [429, 500, 502, 503, 504].includes(result.status) ||
    errorCode(result) === "idempotency_key_in_use";
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

// <tag class=... data-testid=...>text</tag>
function element(tag, { className, testid, text } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (testid) node.dataset.testid = testid;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Shows or hides a message element; an empty message hides it.
function say(node, message) {
  node.textContent = message;
  node.hidden = !message;
}

const quoted = (name) => `\u201c${name}\u201d`;

// ---------------------------------------------------------------- starting a checkout

const BUY_ATTEMPTS = 4; // one click's request is sent at most this often

// What this tab is buying, and the order it became, kept for "Try again" on the
// cancel and success pages. sessionStorage is per tab and survives the trip to
// Stripe and back; it may be unavailable (privacy settings), and then those pages
// just link back to the shop.
const CART_KEY = "shop.cart";

function rememberCart(items, orderId) {
  try {
    sessionStorage.setItem(CART_KEY, JSON.stringify({ orderId, items }));
  } catch {
    // Storage refused: nothing to offer on the cancel page, nothing breaks.
  }
}

// The items this tab was last buying; with `orderId`, only if they became that order
// (a success page opened from another tab's link is not this tab's cart).
function recallCart(orderId) {
  try {
    const cart = JSON.parse(sessionStorage.getItem(CART_KEY));
    const known = Array.isArray(cart?.items) && cart.items.length > 0;
    return known && (orderId === undefined || cart.orderId === orderId) ? cart.items : null;
  } catch {
    return null;
  }
}

function forgetCart() {
  try {
    sessionStorage.removeItem(CART_KEY);
  } catch {
    // Nothing was stored.
  }
}

// One click is one purchase attempt: one Idempotency-Key, kept for that click's
// retries. The service then answers a retry with the same order and session.
// The next click is a new attempt and gets a new key.
//
// `cart` is a list of {product_id, quantity, name, unit_amount, currency}; only
// ids and quantities are sent (prices come from the catalog, never from the
// client). On success the browser leaves for the hosted page and this never
// resolves; otherwise it resolves to the last answer (null: none arrived).
async function startCheckout(cart) {
  const key = newIdempotencyKey();
  const body = {
    items: cart.map(({ product_id, quantity }) => ({ product_id, quantity })),
  };
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    const result = await api("POST", "/checkout/sessions", {
      body,
      headers: { "Idempotency-Key": key },
    });
    if (result?.status === 201) {
      rememberCart(cart, result.data.order_id);
      window.location.assign(result.data.checkout_url); // to Stripe's hosted page
      return new Promise(() => {}); // the page stays as it is while the browser leaves
    }
    if (!isRetryable(result) || attempt === BUY_ATTEMPTS) return result;
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

// What to tell the buyer when a checkout could not start, in the shop's words.
function checkoutFailure(result, name) {
  switch (errorCode(result)) {
    case "out_of_stock":
      return `Sorry, ${quoted(name)} has just sold out.`;
    case "unknown_product":
      return `Sorry, ${quoted(name)} is no longer for sale.`;
    case "provider_rejected":
      return `Sorry, we can't take payment for ${quoted(name)} online. ` +
        "Trying again won't help; please contact us to buy it.";
    default:
      return `We couldn't start the checkout for ${quoted(name)}. Please try again in a moment.`;
  }
}

// ---------------------------------------------------------------- storefront

const FEW_LEFT = 5; // from here on, the stock line says "Only N left"

async function showStorefront() {
  const loading = document.getElementById("loading");
  const result = await api("GET", "/products");
  if (result?.status !== 200) {
    loading.hidden = true;
    say(document.getElementById("error"), "We couldn't load the products. Please reload the page.");
    return;
  }
  const products = result.data.data;
  document.getElementById("products").append(...products.map(productRow));
  if (products.length === 0) {
    loading.textContent = "Nothing is for sale yet.";
  } else {
    loading.hidden = true;
  }
}

// One row per product; the row's own error line says what went wrong with it.
function productRow(product) {
  const row = element("li", { className: "product" });
  row.dataset.productId = product.id;

  const details = element("div", { className: "details" });
  details.append(element("h2", { className: "name", testid: "name", text: product.name }));
  if (product.seller_name) {
    details.append(
      element("p", { className: "seller", testid: "seller", text: `Sold by ${product.seller_name}` }),
    );
  }
  details.append(
    element("p", {
      className: "price",
      testid: "price",
      text: formatPrice(product.unit_amount, product.currency),
    }),
  );

  const buying = element("div", { className: "buying" });
  const stock = element("p", { className: "stock", testid: "stock" });
  const button = element("button", { testid: "buy" });
  button.type = "button";
  button.dataset.productId = product.id;
  // Screen readers hear "Buy Payments T-shirt", not a list of identical "Buy" buttons.
  button.append("Buy", element("span", { className: "visually-hidden", text: ` ${product.name}` }));
  button.addEventListener("click", () => buy(product, row));
  buying.append(stock, button);

  const error = element("p", { className: "error", testid: "row-error" });
  error.setAttribute("role", "alert");
  error.hidden = true;

  row.append(details, buying, error);
  showStock(row, product.stock);
  return row;
}

// The row's stock line and Buy button, for `stock` units left (null: unlimited).
function showStock(row, stock) {
  const line = row.querySelector("[data-testid=stock]");
  const button = row.querySelector("[data-testid=buy]");
  row.dataset.stock = stock === null ? "unlimited" : String(stock);
  if (stock === null) {
    line.textContent = "In stock";
  } else if (stock === 0) {
    line.textContent = "Sold out";
  } else {
    line.textContent = stock <= FEW_LEFT ? `Only ${stock} left` : `${stock} in stock`;
  }
  line.classList.toggle("sold-out", stock === 0);
  button.disabled = stock === 0;
}

async function buy(product, row) {
  const button = row.querySelector("[data-testid=buy]");
  const error = row.querySelector("[data-testid=row-error]");
  say(error, "");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  const cart = [
    {
      product_id: product.id,
      quantity: 1,
      name: product.name,
      unit_amount: product.unit_amount,
      currency: product.currency,
    },
  ];
  const result = await startCheckout(cart);
  button.removeAttribute("aria-busy");
  button.disabled = false;
  if (errorCode(result) === "out_of_stock") {
    await refreshStock(row, product);
  }
  say(error, checkoutFailure(result, product.name));
}

// Another buyer took the last units: show what is left now. If the catalog
// cannot be read, the 409 alone says fewer than one unit (the quantity) is left.
async function refreshStock(row, product) {
  const result = await api("GET", "/products");
  const fresh = result?.status === 200
    ? result.data.data.find((p) => p.id === product.id)
    : undefined;
  showStock(row, fresh ? fresh.stock : 0);
}

// ---------------------------------------------------------------- checkout success

// Ask again after 0.5 s, 1 s, 2 s, 4 s, then every 5 s, for about a minute.
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
const GIVE_UP_AFTER_MS = 60000;

// The order is not settled yet in these states: keep asking. Every other state is
// settled: `partially_refunded` and `refunded` may still move if a refund fails
// later (back to `paid`), but days later, not while the buyer watches; reloading
// the page asks again.
const UNSETTLED = new Set(["pending", "processing", "refund_pending"]);

// The order kept the buyer's payment (even if some or all of it went back since):
// no `cancel_reason`. A refunded order with one was never fulfilled (out of stock).
const kept = (order) =>
  ["paid", "partially_refunded", "refunded"].includes(order?.status) && !order.cancel_reason;

// Why the order was not fulfilled, in the buyer's words.
function notFulfilled(order) {
  return order?.cancel_reason === "out_of_stock"
    ? "Sorry, this sold out just before your payment went through, so we couldn't complete your order."
    : "Sorry, we couldn't complete your order.";
}

const amountOf = (order, field) =>
  order && order[field] !== null ? ` of ${formatPrice(order[field], order.currency)}` : "";

const STATEMENT = "The refund can take 5\u201310 business days to show on your statement.";

// A kept order the shop gave some (`partly`) or all of the money back for, said in full
// in the message (screen readers announce #status, not the heading): how much is coming
// back of what was paid, when the receipt counts both in the order's currency.
function refundOfKept(order, partly) {
  const done = partly ? "partially refunded" : "refunded";
  if (!order?.amount_paid || !order.amount_refunded) {
    return `Your order has been ${done}. ${STATEMENT}`;
  }
  const money = (amount) => formatPrice(amount, order.currency);
  const back = partly ? money(order.amount_refunded) : "all";
  return `Your order has been ${done}: ${back} of the ${money(order.amount_paid)} you paid ` +
    `is on its way back to you. ${STATEMENT}`;
}

// Per state: the page's heading and what it tells the buyer (given the order, if known).
const OUTCOMES = {
  pending: {
    title: "Checking your payment",
    message: () => "We're waiting for your payment to be confirmed. This usually takes a few seconds.",
  },
  processing: {
    title: "Payment processing",
    message: () =>
      "Your payment is on its way. Bank payments can take a few days to clear; " +
      "we'll confirm your order as soon as it does.",
  },
  paid: {
    title: "Thank you for your order",
    message: (order) =>
      order?.amount_paid === 0
        ? "Your order is confirmed. There was nothing to pay."
        : `We've received your payment${amountOf(order, "amount_paid")}. Your order is confirmed.`,
  },
  failed: {
    title: "Payment failed",
    message: () => "Your payment didn't go through, so you have not been charged.",
  },
  expired: {
    title: "Checkout expired",
    message: () => "The checkout timed out before you paid, so you have not been charged.",
  },
  refund_pending: {
    title: "Order cancelled",
    message: (order) =>
      order?.amount_paid === 0
        ? `${notFulfilled(order)} You have not been charged.`
        : `${notFulfilled(order)} We're refunding your payment${amountOf(order, "amount_paid")}.`,
  },
  partially_refunded: {
    title: "Order partially refunded",
    message: (order) => refundOfKept(order, true),
  },
  refunded: {
    title: "Order refunded",
    message: (order) => {
      // No cancel reason: the order went through and the shop gave the money back
      // later (or the order is unknown: say no more than that it was refunded).
      if (!order?.cancel_reason) return refundOfKept(order, false);
      return order.amount_paid === 0
        ? `${notFulfilled(order)} You have not been charged.`
        : // No amount when none is counted in the order's currency (a payment made in
          // another currency is given back in that one): never "of $0.00".
          `${notFulfilled(order)} Your payment` +
          `${order.amount_refunded ? amountOf(order, "amount_refunded") : ""} has been ` +
          "refunded; it can take 5\u201310 business days to show on your statement.";
    },
  },
  unknown: {
    title: "Order not found",
    message: () => "We can't find an order for this link. Check the link, or go back to the shop.",
  },
  unreachable: {
    title: "Checking your payment",
    message: () => "We can't reach the shop right now. We'll keep trying.",
  },
  error: {
    title: "Something went wrong",
    message: () => "We couldn't check your payment. Please reload this page.",
  },
};

// When we stop asking, say only what we know; reloading the page asks again.
const GAVE_UP = {
  pending: "Your payment isn't confirmed yet. Reload this page in a moment to check again.",
  processing:
    "Your payment is still processing. We'll confirm your order once it clears; " +
    "reload this page later to see the result.",
  unreachable: "We couldn't reach the shop to check your payment. Reload this page to try again.",
};

// Offer to try again when nothing was bought.
const RETRY = new Set(["failed", "expired"]);

// "Try again" after a failed or expired checkout: a new checkout for the same items
// when this tab still has them (as on the cancel page), else the link to the shop.
function offerTryAgain(orderId) {
  const link = document.getElementById("try-again");
  const cart = recallCart(orderId);
  if (link.tagName !== "A" || !cart) return; // already offered, or nothing to restart
  const button = element("button", { className: "button", text: "Try again" });
  button.id = "try-again";
  button.type = "button";
  link.replaceWith(button);
  retryOnClick(button, document.getElementById("retry-error"), cart);
}

async function followCheckout() {
  const sessionId = new URLSearchParams(window.location.search).get("session_id");
  if (!sessionId) {
    showOutcome("unknown", null, false);
    return;
  }
  const path = `/checkout/verify?session_id=${encodeURIComponent(sessionId)}`;
  const giveUpAt = Date.now() + GIVE_UP_AFTER_MS;
  let delay = FIRST_DELAY_MS;
  let status = null; // the last status verify told us
  let order = null; // the last GET /orders/{id} answer
  for (;;) {
    const result = await api("GET", path);
    if (result?.status === 200) {
      status = result.data.status;
      // The receipt is read again whenever the status moves (amounts paid and refunded).
      if (order?.status !== status) order = (await fetchOrder(result.data.order_id)) ?? order;
      // Settled, with a receipt that says so: nothing more to learn.
      const done = !UNSETTLED.has(status) && order?.status === status;
      if (RETRY.has(status)) offerTryAgain(result.data.order_id);
      showOutcome(status, order, !done);
      if (done) {
        if (kept(order)) forgetCart(); // bought: nothing to try again
        return;
      }
    } else if (result?.status === 404 || result?.status === 422) {
      showOutcome("unknown", null, false); // not a session this service made
      return;
    } else if (!isRetryable(result)) {
      showOutcome("error", null, false);
      return;
    } else if (status === null) {
      showOutcome("unreachable", null, true);
    }
    // Unsettled, no answer, or 502 (Stripe unreachable: the webhook will still
    // confirm the payment). Ask again later, but not forever.
    if (Date.now() + delay > giveUpAt) {
      giveUp(status, order);
      return;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

async function fetchOrder(orderId) {
  const result = await api("GET", `/orders/${encodeURIComponent(orderId)}`);
  return result?.status === 200 ? result.data : null;
}

function giveUp(status, order) {
  const state = status ?? "unreachable";
  const message = GAVE_UP[state];
  showOutcome(state, order, false, message);
}

// #status carries data-status (the API's status, "unknown", "unreachable" or
// "error") and data-polling (whether the page still asks), for styles and tests.
function showOutcome(state, order, polling, message) {
  const outcome = OUTCOMES[state] ?? {
    title: "Your order",
    message: () => `Your order is ${state.replace("_", " ")}.`,
  };
  const status = document.getElementById("status");
  status.dataset.status = state;
  status.dataset.polling = String(polling);
  document.getElementById("title").textContent = outcome.title;
  document.title = outcome.title;
  document.getElementById("status-message").textContent = message ?? outcome.message(order);
  document.getElementById("checking").hidden = !polling;
  document.getElementById("try-again").hidden = !RETRY.has(state);
  if (order) showReceipt(order);
}

// What was bought, and what was paid and refunded, from GET /orders/{id}.
function showReceipt(order) {
  const money = (amount) => formatPrice(amount, order.currency);
  const rows = order.items.map((item) => {
    const row = element("tr", { testid: "item" });
    const name = element("td", { testid: "item-name", text: item.name });
    if (item.quantity > 1) {
      name.append(element("span", { className: "each", text: `${money(item.unit_amount)} each` }));
    }
    row.append(
      name,
      element("td", { className: "number", testid: "item-quantity", text: String(item.quantity) }),
      element("td", { className: "number", text: money(item.unit_amount * item.quantity) }),
    );
    return row;
  });
  document.getElementById("item-rows").replaceChildren(...rows);

  // A paid amount below the total is a discount (a promotion code).
  const paid = order.amount_paid;
  const discount = paid !== null && paid < order.amount_total ? order.amount_total - paid : 0;
  showAmount("subtotal", discount ? money(order.amount_total) : "");
  showAmount("discount", discount ? `\u2212${money(discount)}` : "");
  showAmount("total", money(order.amount_total - discount));
  showAmount("paid", paid !== null ? money(paid) : "");
  showAmount("refunded", order.amount_refunded ? money(order.amount_refunded) : "");
  document.getElementById("order-id").textContent = order.id;
  document.getElementById("receipt").hidden = false;
}

// Fills #amount-<name>; its row (#<name>-row, if any) shows only with an amount.
function showAmount(name, text) {
  document.getElementById(`amount-${name}`).textContent = text;
  const row = document.getElementById(`${name}-row`);
  if (row) row.hidden = !text;
}

// ---------------------------------------------------------------- checkout cancelled

// The buyer left Stripe's page: nothing was charged. Offer to go back to the
// checkout with what this tab was buying; it starts a new checkout (the old
// session simply expires unpaid).
function showCancel() {
  const cart = recallCart();
  if (!cart) return; // bought elsewhere or storage refused: the link back to the shop remains
  const items = cart.map((item) =>
    element("li", {
      testid: "cart-item",
      text: `${item.name} \u00d7 ${item.quantity} \u2014 ` +
        formatPrice(item.unit_amount * item.quantity, item.currency),
    }),
  );
  document.getElementById("cart-items").replaceChildren(...items);
  document.getElementById("cart").hidden = false;
  retryOnClick(document.getElementById("try-again"), document.getElementById("retry-error"), cart);
}

// Pressing `button` starts a new checkout for `cart`; what went wrong shows in `error`.
function retryOnClick(button, error, cart) {
  button.addEventListener("click", async () => {
    say(error, "");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    const result = await startCheckout(cart);
    button.removeAttribute("aria-busy");
    button.disabled = false;
    say(error, checkoutFailure(result, cart.map((item) => item.name).join(", ")));
  });
}

// ---------------------------------------------------------------- start

const page = document.body.dataset.page;
if (page === "storefront") {
  showStorefront();
} else if (page === "success") {
  followCheckout();
} else if (page === "cancel") {
  showCancel();
}
if (page === "storefront" || page === "cancel" || page === "success") {
  // Coming back from Stripe with the Back button may restore this page from
  // the browser's memory, buttons disabled and stock or status stale: load it afresh.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) window.location.reload();
  });
}
