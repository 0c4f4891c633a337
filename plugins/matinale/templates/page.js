(function () {
  "use strict";
  var doc = document;
  doc.documentElement.className += " js";
  var annonce = doc.getElementById("annonce");

  function dire(message) {
    annonce.textContent = "";
    window.setTimeout(function () { annonce.textContent = message; }, 30);
  }

  function variantes(post) { return post.querySelectorAll(".variante"); }
  function visible(post) { return post.querySelector(".variante:not([hidden])") || variantes(post)[0]; }
  function texte(post) { return visible(post).querySelector(".texte").textContent; }

  function choisir(post, index) {
    var toutes = variantes(post);
    for (var i = 0; i < toutes.length; i++) { toutes[i].hidden = i !== index; }
    post.setAttribute("data-choix", String(index));
    post.querySelector(".repli").hidden = true;
  }

  // Old browsers, or pages opened outside a secure context, have no async clipboard.
  function copieAncienne(valeur) {
    return new Promise(function (resolve, reject) {
      var zone = doc.createElement("textarea");
      zone.value = valeur;
      zone.setAttribute("readonly", "");
      zone.className = "hors-ecran";
      doc.body.appendChild(zone);
      zone.select();
      var ok = false;
      try { ok = doc.execCommand("copy"); } catch (e) { ok = false; }
      doc.body.removeChild(zone);
      if (ok) { resolve(); } else { reject(new Error("copie impossible")); }
    });
  }

  function copier(post, bouton) {
    var valeur = texte(post);
    var essai = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(valeur).catch(function () { return copieAncienne(valeur); })
      : copieAncienne(valeur);
    essai.then(function () {
      bouton.textContent = "Copié ✓";
      dire("Texte copié. Collez-le dans votre application.");
      window.setTimeout(function () { bouton.textContent = "Copier"; }, 2500);
    }, function () {
      var plage = doc.createRange();
      plage.selectNodeContents(visible(post).querySelector(".texte"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(plage);
      dire("Copie impossible : le texte est sélectionné, copiez-le à la main.");
    });
  }

  // The card preview is inline (data URI): sharing it needs no network and no delay, so the
  // tap's user activation is still valid when navigator.share runs.
  function fichierImage(post) {
    var image = doc.getElementById(post.getAttribute("data-apercu") || "");
    if (!image || typeof File === "undefined") { return null; }
    var source = image.getAttribute("src") || "";
    var virgule = source.indexOf(",");
    if (source.indexOf("data:image/jpeg;base64,") !== 0 || virgule < 0) { return null; }
    var binaire = window.atob(source.slice(virgule + 1));
    var octets = new Uint8Array(binaire.length);
    for (var i = 0; i < binaire.length; i++) { octets[i] = binaire.charCodeAt(i); }
    return new File([octets], (post.getAttribute("data-fichier") || "visuel") + ".jpg", { type: "image/jpeg" });
  }

  function liensDePartage(post) {
    var valeur = encodeURIComponent(texte(post));
    var lien = encodeURIComponent(visible(post).getAttribute("data-lien") || "");
    var repli = post.querySelector(".repli");
    // One link per channel with a share link in channels.yaml: {text} and {link} filled in.
    var liens = repli.querySelectorAll("a[data-modele]");
    if (!liens.length) { dire("Partage impossible ici : copiez le texte."); return; }
    for (var i = 0; i < liens.length; i++) {
      liens[i].href = liens[i].getAttribute("data-modele").split("{text}").join(valeur).split("{link}").join(lien);
    }
    repli.hidden = false;
    liens[0].focus();
    dire(repli.getAttribute("data-annonce"));
  }

  function partager(post) {
    if (!navigator.share) { liensDePartage(post); return; }
    var donnees = { text: texte(post) };
    var fichier = null;
    try { fichier = fichierImage(post); } catch (e) { fichier = null; }
    if (fichier && navigator.canShare && navigator.canShare({ files: [fichier] })) { donnees.files = [fichier]; }
    navigator.share(donnees).then(function () { dire("Partagé."); }, function (erreur) {
      if (!erreur || erreur.name !== "AbortError") { liensDePartage(post); }
    });
  }

  function autre(post) {
    var total = variantes(post).length;
    var suivant = (Number(post.getAttribute("data-choix") || "0") + 1) % total;
    choisir(post, suivant);
    dire("Version " + (suivant + 1) + " sur " + total + ".");
  }

  var posts = doc.querySelectorAll(".post");
  for (var i = 0; i < posts.length; i++) {
    // Activists should not all post the same words: each phone starts on a random version.
    choisir(posts[i], Math.floor(Math.random() * variantes(posts[i]).length));
  }

  doc.addEventListener("click", function (evenement) {
    var bouton = evenement.target.closest ? evenement.target.closest("button[data-action]") : null;
    if (!bouton) { return; }
    var post = bouton.closest(".post");
    var action = bouton.getAttribute("data-action");
    if (action === "copier") { copier(post, bouton); }
    else if (action === "partager") { partager(post); }
    else if (action === "autre") { autre(post); }
  });
})();
