// The sd-mali page: calls the same A1111 API as any client (txt2img, img2img, progress, interrupt).
'use strict';

const $ = (id) => document.getElementById(id);
let polling = 0;
/** img2img: the picked image and uploaded mask as data URLs; whether a mask was drawn. */
const input = { image: null, maskFile: null, maskDrawn: false };
/** The size the model makes (GET /internal/sd-mali/model), sent as width and height. */
let modelSize = null;

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('the browser cannot decode this image'));
    img.src = src;
  });
}

function setMode(mode) {
  $('img2img').hidden = mode !== 'img2img';
}

/** Shows the picked image with an empty mask canvas of its size over it. */
async function pickImage(file) {
  try {
    const src = await readAsDataUrl(file);
    const img = await loadImage(src);
    input.image = src;
    input.maskDrawn = false;
    for (const id of ['init-canvas', 'mask-canvas']) {
      $(id).width = img.naturalWidth;
      $(id).height = img.naturalHeight;
    }
    $('init-canvas').getContext('2d').drawImage(img, 0, 0);
    $('canvases').hidden = false;
    $('drop-hint').hidden = true;
    setStatus(`image: ${file.name || 'dropped'} (${img.naturalWidth}x${img.naturalHeight})`);
  } catch (err) {
    setStatus(err.message, true);
  }
}

/** The brush: white strokes on the mask canvas, in the image's pixels. */
function setUpMaskDrawing() {
  const canvas = $('mask-canvas');
  let last = null;
  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    return [((event.clientX - r.left) * canvas.width) / r.width, ((event.clientY - r.top) * canvas.height) / r.height];
  };
  const paint = (to) => {
    const ctx = canvas.getContext('2d');
    const radius = (Number($('brush').value) * canvas.width) / canvas.getBoundingClientRect().width / 2;
    ctx.fillStyle = '#ffffff';
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = radius * 2;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(...(last ?? to));
    ctx.lineTo(...to);
    ctx.stroke();
    input.maskDrawn = true;
    last = to;
  };
  canvas.addEventListener('pointerdown', (event) => {
    if (!$('draw-mask').checked) return;
    canvas.setPointerCapture(event.pointerId);
    last = null;
    paint(at(event));
  });
  canvas.addEventListener('pointermove', (event) => {
    if (last) paint(at(event));
  });
  const stop = () => (last = null);
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
}

/** The drawn mask as A1111 wants it: a PNG of the image's size, white = repaint, black = keep. */
function drawnMask() {
  const mask = $('mask-canvas');
  const out = document.createElement('canvas');
  out.width = mask.width;
  out.height = mask.height;
  const ctx = out.getContext('2d');
  ctx.fillStyle = '#000000';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(mask, 0, 0);
  return out.toDataURL('image/png');
}

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
  const [samplers, models, model] = await Promise.all([api('/sdapi/v1/samplers'), api('/sdapi/v1/sd-models'), api('/internal/sd-mali/model')]);
  modelSize = { width: model.width, height: model.height };
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
    ...(modelSize ?? {}),
  };
  const img2img = document.querySelector('input[name=mode]:checked').value === 'img2img';
  if (img2img) {
    if (!input.image) {
      setStatus('pick or drop an image first', true);
      return;
    }
    request.init_images = [input.image];
    request.denoising_strength = Number($('strength').value);
    const mask = input.maskDrawn ? drawnMask() : input.maskFile;
    if (mask) Object.assign(request, { mask, mask_blur: 4, inpainting_fill: 1, inpaint_full_res: false });
  }
  $('generate').disabled = true;
  $('interrupt').disabled = false;
  $('progress').value = 0;
  setStatus('waiting for the GPU…');
  polling = setInterval(poll, 500);
  try {
    const result = await api(img2img ? '/sdapi/v1/img2img' : '/sdapi/v1/txt2img', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    const info = JSON.parse(result.info);
    if (result.images.length === 0) {
      setStatus(info.interrupted ? 'interrupted' : 'no image came back');
      return;
    }
    const src = `data:image/png;base64,${result.images[0]}`;
    const strength = img2img ? ` · ${request.mask ? 'inpaint' : 'img2img'} strength ${info.denoising_strength}` : '';
    const caption = `seed ${info.seed} · ${info.sampler_name} · ${info.steps} steps · CFG ${info.cfg_scale}${info.guidance_baked ? ' (baked)' : ''}${strength}`;
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
for (const radio of document.querySelectorAll('input[name=mode]')) radio.addEventListener('change', () => setMode(radio.value));
$('init-file').addEventListener('change', () => $('init-file').files[0] && pickImage($('init-file').files[0]));
$('mask-file').addEventListener('change', async () => {
  const file = $('mask-file').files[0];
  input.maskFile = file ? await readAsDataUrl(file) : null;
});
$('strength').addEventListener('input', () => ($('strength-value').textContent = $('strength').value));
$('clear-mask').addEventListener('click', () => {
  const canvas = $('mask-canvas');
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  input.maskDrawn = false;
});
const drop = $('drop');
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer.files[0];
  if (file) pickImage(file);
});
setUpMaskDrawing();
$('interrupt').addEventListener('click', () => api('/sdapi/v1/interrupt', { method: 'POST' }).catch((err) => setStatus(err.message, true)));
loadMenus().catch((err) => setStatus(`cannot reach the API: ${err.message}`, true));
