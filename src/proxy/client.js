// hot's live reload: injected into HTML pages (and hot's own failure page). It listens to
// hot's events, reloads the page once the new app is ready, swaps stylesheets for CSS-only
// changes, and shows hot's failure view over the page while the build is broken. The view's
// markup comes from hot, which renders it the same way for its own 503 page: one view.
(function () {
  if (window.__hot) return;
  window.__hot = true;
  var ID = '__hot_failure';
  function current() {
    return document.getElementById(ID);
  }
  function show(markup) {
    var template = document.createElement('template');
    template.innerHTML = markup;
    var view = template.content.firstElementChild;
    if (!view) return;
    var old = current();
    if (old) {
      old.replaceWith(view);
    } else {
      (document.body || document.documentElement).appendChild(view);
    }
    tick();
  }
  function hide() {
    var view = current();
    if (view) view.remove();
  }
  // "12 s ago": how long the build has been broken.
  function tick() {
    var times = document.querySelectorAll('#' + ID + ' time[data-hot-at]');
    for (var i = 0; i < times.length; i++) {
      var s = Math.max(0, Math.round((Date.now() - Number(times[i].dataset.hotAt)) / 1000));
      times[i].textContent =
        s < 2 ? 'just now' : s < 60 ? s + ' s ago' : Math.floor(s / 60) + ' min ago';
    }
  }
  setInterval(tick, 1000);
  tick();
  // A file:line of the project: ask hot to open it in the editor (with the view's token).
  document.addEventListener('click', function (e) {
    var link = e.target.closest ? e.target.closest('#' + ID + ' a[data-hot-open]') : null;
    if (!link) return;
    e.preventDefault();
    fetch('/__hot/open', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: link.dataset.hotOpen, token: current().dataset.token }),
    });
  });
  var events = new EventSource('/__hot/events');
  events.addEventListener('reload', function () {
    location.reload();
  });
  events.addEventListener('css', function () {
    var links = document.querySelectorAll('link[rel="stylesheet"]');
    for (var i = 0; i < links.length; i++) {
      var url = new URL(links[i].href, location.href);
      url.searchParams.set('__hot', String(Date.now()));
      links[i].href = url.toString();
    }
  });
  events.addEventListener('build-failed', function (e) {
    show(JSON.parse(e.data).view);
  });
  events.addEventListener('build-ok', hide);
})();
