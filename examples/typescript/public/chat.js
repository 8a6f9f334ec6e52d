// The chat page: sends a message, shows the answer (whole or streamed), and puts the
// rlhf-otel feedback widget under it with the token the server minted for that answer.
const log = document.getElementById('log');
const form = document.getElementById('chat');
const feedbackUrl = log.dataset.feedbackUrl;

function turn(question) {
  const div = document.createElement('div');
  div.className = 'turn';
  const q = document.createElement('p');
  q.className = 'question';
  q.textContent = question;
  const a = document.createElement('p');
  a.className = 'answer';
  div.append(q, a);
  log.append(div);
  return { div, answer: a };
}

function finish(t, result) {
  t.div.dataset.state = 'done';
  t.div.dataset.interactionId = result.interaction_id ?? '';
  if (!result.token) return;
  const widget = document.createElement('rlhf-feedback');
  widget.setAttribute('endpoint', feedbackUrl);
  widget.setAttribute('token', result.token);
  widget.setAttribute('interaction-id', result.interaction_id);
  widget.setAttribute('controls', 'thumbs comment');
  t.div.append(widget);
}

function fail(t, result) {
  t.div.dataset.state = 'error';
  t.div.dataset.interactionId = result.interaction_id ?? '';
  t.answer.classList.add('error');
  t.answer.textContent = `Error: ${result.detail ?? result.error}`;
}

async function send(message, model, stream) {
  const t = turn(message);
  const response = await fetch('/api/chat', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, model, stream }),
  });
  if (!stream || !response.ok) {
    const result = await response.json();
    if (response.ok) {
      t.answer.textContent = result.answer;
      finish(t, result);
    } else fail(t, result);
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const event = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      if (event.type === 'delta') t.answer.textContent += event.text;
      else if (event.type === 'done') finish(t, event);
      else if (event.type === 'error') fail(t, event);
    }
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('message');
  const message = input.value;
  input.value = '';
  await send(message, document.getElementById('model').value, document.getElementById('stream').checked);
});
