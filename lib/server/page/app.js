// The sd-mali page: calls the same A1111 API as any client (txt2img, progress, interrupt).
'use strict';

const $ = (id) => document.getElementById(id);
let polling = 0;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : 'muted';
}

async function api(path, init) {
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => `${d.loc.slice(1).join('.')}: ${d.msg}`).join('; ') : body.detail;
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return body;
}

async function loadMenus() {
  const [samplers, models] = await Promise.all([api('/sdapi/v1/samplers'), api('/sdapi/v1/sd-models')]);
  for (const s of samplers) $('sampler').add(new Option(s.name, s.name, s.name === 'Euler a', s.name === 'Euler a'));
  $('model').textContent = models[0] ? `model: ${models[0].title}` : '';
}

async function poll() {
  try {
    const p = await api('/sdapi/v1/progress');
    if (p.state.job_count > 0) {
      $('progress').value = p.progress;
      setStatus(`image ${p.state.job_no + 1} of ${p.state.job_count}, step ${p.state.sampling_step} of ${p.state.sampling_steps}`);
      if (p.current_image) {
        $('preview').src = `data:image/png;base64,${p.current_image}`;
        $('preview').hidden = false;
        $('image').hidden = true;
        $('placeholder').hidden = true;
      }
    }
  } catch {
    // The next poll tries again.
  }
}

function addToStrip(src, title) {
  const img = new Image();
  img.src = src;
  img.title = title;
  img.alt = title;
  img.addEventListener('click', () => showImage(src, title));
  $('strip').prepend(img);
}

function showImage(src, caption) {
  $('image').src = src;
  $('image').hidden = false;
  $('preview').hidden = true;
  $('placeholder').hidden = true;
  $('info').textContent = caption;
}

async function generate(event) {
  event.preventDefault();
  const request = {
    prompt: $('prompt').value,
    negative_prompt: $('negative').value,
    steps: Number($('steps').value),
    sampler_name: $('sampler').value,
    seed: Number($('seed').value),
  };
  $('generate').disabled = true;
  $('interrupt').disabled = false;
  $('progress').value = 0;
  setStatus('waiting for the GPU…');
  polling = setInterval(poll, 500);
  try {
    const result = await api('/sdapi/v1/txt2img', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    const info = JSON.parse(result.info);
    if (result.images.length === 0) {
      setStatus(info.interrupted ? 'interrupted' : 'no image came back');
      return;
    }
    const src = `data:image/png;base64,${result.images[0]}`;
    const caption = `seed ${info.seed} · ${info.sampler_name} · ${info.steps} steps · CFG ${info.cfg_scale}${info.guidance_baked ? ' (baked)' : ''}`;
    // An interrupted run returns the image where it stopped (as A1111 does): shown, not kept.
    if (info.interrupted) {
      showImage(src, `${caption} · interrupted`);
      setStatus('interrupted');
      return;
    }
    showImage(src, caption);
    addToStrip(src, `${info.prompt} (${caption})`);
    $('progress').value = 1;
    setStatus('done');
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    clearInterval(polling);
    $('generate').disabled = false;
    $('interrupt').disabled = true;
  }
}

$('form').addEventListener('submit', generate);
$('interrupt').addEventListener('click', () => api('/sdapi/v1/interrupt', { method: 'POST' }).catch((err) => setStatus(err.message, true)));
loadMenus().catch((err) => setStatus(`cannot reach the API: ${err.message}`, true));
